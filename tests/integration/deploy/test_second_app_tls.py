"""A second app with another layout (examples/widget: flat module, requirements.txt, JSON API)
deployed by site.yml with only variables changed, behind nginx with TLS (self-signed)."""

from __future__ import annotations

import http.client
import json
import ssl
import warnings

import pytest
from conftest import R1
from deployhelp import extra, output

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = "widget"


@pytest.fixture(scope="module")
def widget(local_fleet, build_artifact):
    """One host running widget R1 behind HTTPS, from ``ansible-playbook flaskfleet.cloud.site``."""
    fleet = local_fleet("t-deploy-widget", count=1)
    hosts = [{"name": "t-deploy-widget-web", "group": "web", "count": 1, "published_ports": [80, 443]}]
    proc = fleet.playbook(
        "flaskfleet.cloud.site",
        *extra(
            provision_app=fleet.app,
            provision_hosts=hosts,
            provision_state_dir=str(fleet.state_dir),
            flask_app_name=APP,
            flask_app_artifact=str(build_artifact(APP, R1)),
            nginx_tls=True,
            nginx_hsts_max_age=31536000,
        ),
    )
    assert proc.returncode == 0, output(proc)[-4000:]
    return fleet.hosts[0]


def _https(host, context: ssl.SSLContext) -> http.client.HTTPResponse:
    conn = http.client.HTTPSConnection("127.0.0.1", host.published_ports[443], timeout=10, context=context)
    conn.request("GET", "/")
    return conn.getresponse()


def _context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers exactly ``version`` (security level 0, so the client itself allows old TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate is self-signed
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # offering TLS 1.1 is the point of the test
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    return context


def test_second_app_answers_over_https(widget):
    resp = _https(widget, _context(ssl.TLSVersion.TLSv1_2))
    body = json.loads(resp.read())
    assert resp.status == 200
    assert body == {"app": "widget", "release": R1, "widgets": 2}
    assert resp.getheader("Strict-Transport-Security") == "max-age=31536000"
    assert resp.getheader("Server") == "nginx"


def test_plain_http_redirects_to_https(widget):
    conn = http.client.HTTPConnection("127.0.0.1", widget.published_ports[80], timeout=10)
    conn.request("GET", "/widgets", headers={"Host": "widget.example"})
    resp = conn.getresponse()
    assert resp.status == 301
    assert resp.getheader("Location") == "https://widget.example/widgets"


def test_tls_1_1_handshake_is_refused_by_the_server(widget):
    with pytest.raises(ssl.SSLError) as refused:
        _https(widget, _context(ssl.TLSVersion.TLSv1_1))
    # An alert from the server, not a client that could not offer TLS 1.1.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value
