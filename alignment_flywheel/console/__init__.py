"""The review console: a web page for operators, served by the HTTP app under ``/console``.

:func:`alignment_flywheel.console.routes.console_router` builds its routes; ``flywheel console
operator add`` manages who may log in. See docs/console.md.
"""
