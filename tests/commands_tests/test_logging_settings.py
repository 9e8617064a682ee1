"""The log's settings and formats: PAKAT_LOG_FORMAT, the operations allow-list, text lines with request ids."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pakat import logs
from pakat.errors import AccessError
from pakat.settings import Settings


def test_log_format_and_operations_settings_are_checked_at_start() -> None:
    settings = Settings.from_env({})
    assert (settings.log_format, settings.ops_allow, settings.ops_token) == ("json", ("127.0.0.1", "::1"), None)
    chosen = Settings.from_env({"PAKAT_LOG_FORMAT": "text", "PAKAT_OPS_ALLOW": "10.0.0.0/8, 192.0.2.7",
                                "PAKAT_OPS_TOKEN": "t0ken", "PAKAT_CERT_WARN_DAYS": "45",
                                "PAKAT_READY_OPTIONAL": "demo-expired, demo-revoked"})
    assert chosen.log_format == "text" and chosen.ops_allow == ("10.0.0.0/8", "192.0.2.7")
    assert chosen.cert_warn_days == 45 and chosen.ready_optional == ("demo-expired", "demo-revoked")
    assert "t0ken" not in repr(chosen)  # a token never reaches a log through the settings' repr
    for bad in ({"PAKAT_LOG_FORMAT": "xml"}, {"PAKAT_OPS_ALLOW": "everyone"}, {"PAKAT_CERT_WARN_DAYS": "-1"}):
        with pytest.raises(AccessError) as refused:
            Settings.from_env(bad)
        assert refused.value.code == "CONFIG_INVALID"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_each_format_carries_the_request_id_and_masks_national_ids(log_format: str) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    # configure() is the process's; the test process gets its handlers and levels back afterwards.
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in logs.QUIET_LIBRARIES})
    handler = logs.configure(log_format)
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        with logs.request_id_set("req-0123456789"):
            logging.getLogger("envelopes.test").info("checked 0085123455 for %s", "batch-1", extra={"items": 3})
        logging.getLogger("rq.worker").info("routine chatter")
        logging.getLogger("urllib3").warning("a library's warning")
    finally:
        root.removeHandler(handler)
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "routine chatter" not in stream.getvalue()
    assert "0085123455" not in stream.getvalue() and "[national-id]" in lines[0]
    if log_format == "json":
        first = json.loads(lines[0])
        assert first["request_id"] == "req-0123456789" and first["items"] == 3 and first["level"] == "INFO"
        assert json.loads(lines[1])["request_id"] is None
    else:
        assert lines[0].endswith("[request req-0123456789]") and " INFO envelopes.test: " in lines[0]


def test_only_plain_request_ids_are_kept() -> None:
    assert logs.valid_request_id("3f2a-77b1:retry.2") == "3f2a-77b1:retry.2"
    for bad in (None, "short", "x" * 129, "has space in it", "line\nbreak-0000", "<script>alert</script>"):
        assert logs.valid_request_id(bad) is None
