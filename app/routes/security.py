"""Security headers on every response: pages, htmx fragments, errors and static files.

The Content-Security-Policy allows only our own scripts and styles: no inline <script>,
no style="" attributes, no eval (htmx runs with allowEval false and without its injected
indicator <style>, see _document.html). WeChat's JS-SDK host goes into CSP_SCRIPT_EXTRA.
"""


def content_security_policy(config):
    """The policy string for this configuration."""
    script_src = " ".join(["'self'", *config.get("CSP_SCRIPT_EXTRA", "").split()])
    directives = [
        "default-src 'self'",
        f"script-src {script_src}",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        # Forms post only to us; a form whose redirect leaves the site is refused too.
        "form-action 'self'",
        # One-tap redeem and draw buttons must never sit inside someone else's frame.
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def register_security_headers(app):
    """Add the headers to every response the app sends."""
    headers = {
        "Content-Security-Policy": content_security_policy(app.config),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # Same-origin requests keep their full Referer (Flask-WTF's WTF_CSRF_SSL_STRICT check
        # needs it on HTTPS POSTs); other sites learn nothing, not even our invite-code paths.
        "Referrer-Policy": "same-origin",
    }

    @app.after_request
    def _security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
