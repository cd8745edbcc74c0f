"""HTTPS with a certificate signed by a CA the tests make: the SDK and the aws-cli configured
with the CA bundle work; a client that does not trust the CA is refused by its own TLS check;
HTTPS on a port of its own leaves plain HTTP where it was; with HTTPS on the main port, a
function's SDK reaches the server through it; a client that never finishes the handshake is
cut off."""

import contextlib
import datetime
import ipaddress
import os
import socket
import subprocess
import time

import boto3
import botocore.exceptions
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import free_port, own_server
from functions import function, invoke
from util import random_table_name, wait_until

pytestmark = pytest.mark.dynarock_only


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """(ca.pem, server.pem, server.key): a CA, and a server certificate it signed for localhost
    and 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("dynarock test CA")).issuer_name(_name("dynarock test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = d / "ca.pem", d / "server.pem", d / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(key))
    return tuple(str(p) for p in paths)


@pytest.fixture(scope="module")
def both(certs):
    """A server with plain HTTP on its main port and HTTPS on --tls-port: (http url, https url)."""
    ca, cert, key = certs
    port = free_port()
    with own_server("--tls-cert", cert, "--tls-key", key, "--tls-port", str(port),
                    "--client-timeout-seconds", "1") as (url, _):
        yield url, f"https://localhost:{port}"


@contextlib.contextmanager
def https_only(certs, *args):
    """A server serving HTTPS on its main port only: yields its https URL."""
    ca, cert, key = certs
    port = free_port()
    server = subprocess.Popen([os.environ["DYNAROCK_BIN"], "serve", "--in-memory", "--log-level", "warn",
                               "--port", str(port), "--tls-cert", cert, "--tls-key", key,
                               "--tls-ca", ca, *args])
    url = f"https://localhost:{port}"

    def up():
        try:
            return requests.get(url, verify=ca, timeout=1).ok
        except requests.RequestException:
            return False
    try:
        assert wait_until(up, timeout=20)
        yield url
    finally:
        server.terminate()
        server.wait()


def client(service, url, ca):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", verify=ca,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_the_sdk_trusting_the_ca_reads_and_writes_over_https(both, certs):
    ca = certs[0]
    ddb = client("dynamodb", both[1], ca)
    name = random_table_name()
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}, "v": {"N": "1"}}
    # The same data over the plain port: one server, two ways in.
    plain = client("dynamodb", both[0], None)
    assert plain.get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"]["v"] == {"N": "1"}
    ddb.delete_table(TableName=name)


def test_a_client_that_does_not_trust_the_ca_refuses_the_server(both):
    ddb = boto3.client("dynamodb", endpoint_url=both[1], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=botocore.config.Config(retries={"total_max_attempts": 1}))
    with pytest.raises(botocore.exceptions.SSLError):
        ddb.list_tables()


def test_the_aws_cli_with_a_ca_bundle(both, certs):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run(["aws", "--endpoint-url", both[1], "--ca-bundle", certs[0], "dynamodb", "list-tables"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"TableNames"' in out.stdout


def test_plain_http_to_the_https_port_gets_no_answer(both):
    port = int(both[1].rsplit(":", 1)[1])
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_a_client_that_never_finishes_the_handshake_is_cut_off(both):
    port = int(both[1].rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    s.send(b"\x16\x03\x01")  # the start of a ClientHello, and nothing more
    s.settimeout(8)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    assert time.monotonic() - started < 6  # --client-timeout-seconds 1, checked every quarter
    s.close()


CALLS_DYNAMODB = """
import boto3

def handler(event, context):
    return boto3.client("dynamodb").list_tables()["TableNames"]
"""


def test_with_https_on_the_main_port_functions_reach_the_server_through_it(certs):
    ca = certs[0]
    with https_only(certs) as url:
        ddb = client("dynamodb", url, ca)
        name = random_table_name()
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        lam = client("lambda", url, ca)
        with function(lam, {"app.py": CALLS_DYNAMODB}, Timeout=30) as fn:
            r, tables = invoke(lam, fn)
            assert "FunctionError" not in r, tables
            assert tables == [name]


def test_a_certificate_that_cannot_be_read_stops_the_start_with_the_file_named(certs, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    out = subprocess.run([os.environ["DYNAROCK_BIN"], "serve", "--in-memory", "--port", str(free_port()),
                          "--tls-cert", str(bad), "--tls-key", certs[2]],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "bad.pem" in out.stderr + out.stdout and "no CERTIFICATE" in out.stderr + out.stdout
    # A key that is not the certificate's.
    other = tmp_path / "other.key"
    other.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    out = subprocess.run([os.environ["DYNAROCK_BIN"], "serve", "--in-memory", "--port", str(free_port()),
                          "--tls-cert", certs[1], "--tls-key", str(other)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "server.pem" in out.stderr + out.stdout
