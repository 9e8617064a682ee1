"""The three sides of a signing session in tests: the platform's API calls, the agent's steps, a person's token."""

from __future__ import annotations

import base64
import io
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import pdf_bytes

from signer.cms import DIGESTS
from signer.keys import Pkcs11Key

PERSON = "user-independent"


class Platform:
    """The platform's side: an API key and the calls it makes."""

    def __init__(self, client: FlaskClient, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def upload(self, text: str = "bid envelope B") -> dict[str, Any]:
        reply = self.client.post("/api/v1/documents", headers=self.headers,
                                 data={"pdf": (io.BytesIO(pdf_bytes(text, pages=2)), "پاکت-ب.pdf")})
        assert reply.status_code == 201, reply.json
        return dict(reply.json or {})

    def document(self, doc_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/api/v1/documents/{doc_id}", headers=self.headers)
        assert reply.status_code == 200, reply.json
        return dict(reply.json or {})

    def session(self, doc_id: str, **body: Any) -> dict[str, Any]:
        reply = self.client.post(f"/api/v1/documents/{doc_id}/signing-sessions", headers=self.headers,
                                 json={"level": "B-LTA", **body})
        assert reply.status_code == 201, reply.json
        return dict(reply.json or {})


class Token:
    """A person's token: their certificate and a key that signs digests (SoftHSM via PKCS#11)."""

    def __init__(self, dev_env: Any, user_id: str) -> None:
        user = dev_env.users[user_id]
        self.user = user
        self.certificate = user.certificate()
        self.key = Pkcs11Key(module=dev_env.softhsm_module, token_label=user.token_label,
                             key_label=user.key_label, certificate=self.certificate, pin=user.read_pin,
                             module_env=dev_env.softhsm_env())

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(Encoding.DER)).decode()

    def sign(self, answer: dict[str, Any]) -> str:
        attributes = base64.b64decode(answer["signed_attributes"])
        algorithm = DIGESTS[answer["digest_algorithm"]]
        digest = algorithm.digest(attributes)
        assert digest.hex() == answer["digest"]  # an agent signs only what it can recompute
        return base64.b64encode(self.key.sign_digest(digest, algorithm)).decode()


class Agent:
    """The agent's side of one session."""

    def __init__(self, client: FlaskClient, created: dict[str, Any], secret: str | None = None) -> None:
        self.client = client
        self.path = "/agent/v1/sessions/" + created["id"]
        self.headers = {"Authorization": f"Bearer {secret or created['agent_secret']}"}

    def fetch(self) -> Any:
        return self.client.get(self.path, headers=self.headers)

    def certificate(self, cert_b64: str, **extra: Any) -> Any:
        return self.client.post(f"{self.path}/certificate", headers=self.headers,
                                json={"certificate": cert_b64, "chain": [], "digest_algorithm": "sha256", **extra})

    def signature(self, signature_b64: str, cert_b64: str | None = None) -> Any:
        body = {"signature": signature_b64}
        if cert_b64:
            body["certificate"] = cert_b64
        return self.client.post(f"{self.path}/signature", headers=self.headers, json=body)


def error_code(reply: Any) -> str:
    """The stable code of an error answer (``"None"`` when the answer is no error)."""
    return str((reply.json or {}).get("error", {}).get("code"))


def raise_level(app: Flask, session_id: str) -> dict[str, Any]:
    return app.extensions["pakat"].sessions().raise_level(session_id, final_attempt=True).as_dict()
