"""The HTML of the pages: a small shell each; ``static/app.js`` fills it from the JSON API.

Everything the kiosks send is put on the page by the script as text (never as
HTML), and the few values written here are escaped, so a kiosk's location cannot
inject markup. No inline script or style: the Content-Security-Policy forbids them.
"""

from __future__ import annotations

from html import escape

from fleet.accounts import SignedIn

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · SITHS kiosk fleet</title>
<link rel="stylesheet" href="/static/app.css">
{extra_head}</head>
"""


def _nav(user: SignedIn, current: str) -> str:
    links = [("fleet", "/", "Fleet"), ("alerts", "/alerts", "Alerts")]
    items = "".join(
        f'<a href="{href}"{" aria-current=page" if key == current else ""}>{text}</a>'
        for key, href, text in links
    )
    return (
        '<header class="top"><a class="brand" href="/">SITHS kiosk fleet</a>'
        f"<nav>{items}</nav>"
        f'<form class="signout" method="post" action="/logout">'
        f'<span class="who">{escape(user.user)} ({escape(user.role)})</span>'
        f'<input type="hidden" name="csrf" value="{escape(user.csrf)}">'
        '<button type="submit">Sign out</button></form></header>'
    )


def shell(page: str, title: str, user: SignedIn, *, kiosk: str | None = None) -> str:
    """A signed-in page: navigation, an empty main for the script, the scripts."""
    charts = page == "kiosk"
    extra = '<link rel="stylesheet" href="/static/vendor/uPlot.min.css">\n' if charts else ""
    extra += f'<meta name="csrf" content="{escape(user.csrf)}">\n'
    extra += f'<meta name="role" content="{escape(user.role)}">\n'
    data = f' data-page="{escape(page)}"'
    if kiosk is not None:
        data += f' data-kiosk="{escape(kiosk)}"'
    scripts = '<script src="/static/vendor/uPlot.iife.min.js"></script>\n' if charts else ""
    scripts += '<script src="/static/app.js"></script>\n'
    return (
        _HEAD.format(title=escape(title), extra_head=extra)
        + f"<body>{_nav(user, page)}"
        + f'<main id="app"{data}><p class="live" id="live" role="status">Connecting…</p></main>'
        + scripts
        + "</body></html>\n"
    )


def login_page(target: str, failed: bool) -> str:
    """The sign-in form (``target``: the page to go to afterwards)."""
    problem = '<p class="problem" role="alert">Wrong user name or password.</p>' if failed else ""
    return (
        _HEAD.format(title="Sign in", extra_head="")
        + '<body class="login"><main><h1>SITHS kiosk fleet</h1>'
        + problem
        + '<form method="post" action="/login">'
        + f'<input type="hidden" name="next" value="{escape(target)}">'
        + '<label>User name <input name="name" autocomplete="username" required autofocus></label>'
        + '<label>Password <input name="password" type="password"'
        + ' autocomplete="current-password" required></label>'
        + '<button type="submit">Sign in</button></form></main></body></html>\n'
    )
