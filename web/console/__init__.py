"""The console: pages for the people of an organisation, under /console (issue 16).

:mod:`web.console.access` says who is signed in, checks roles and CSRF for every
console request, and plugs the person and the CSRF token into every page
(:data:`web.look.PAGE_HOOKS`). Each surface is a blueprint of its own module
(:mod:`~web.console.auth`, :mod:`~web.console.home`, :mod:`~web.console.users`),
registered in :func:`web.create_app`.
"""
