#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: served_certificate
short_description: Read the certificate a TLS endpoint presents, and wait until it is the expected one
version_added: 0.1.0
description:
  - Connects to O(host):O(port) from the host the module runs on, makes a TLS handshake (SNI O(server_name)) and
    returns the certificate the endpoint presents - serial, validity, subject, issuer, SANs. Nothing is sent after
    the handshake, so any TLS service works (HTTPS, SMTPS, a database with TLS on its own port, ...); services that
    start TLS inside their protocol (STARTTLS) do not.
  - By default the certificate is only read, not verified - the module answers "which certificate does the
    service present", which is what a health check after a renewal needs. With O(ca_cert) the chain must lead to that
    CA and the certificate must name O(server_name) (or O(host)), else the task fails.
  - With O(expected_serial) it is the health check after a certificate renewal and reload - the module tries again,
    O(delay) seconds apart, at most O(retries) more times, until the endpoint serves that serial, and fails with a
    message naming the expected and the served serial otherwise. Without it, only a connection or handshake that
    fails is retried.
  - Serials are returned in the format M(secops.rotation.pki_cert_renew) returns them (Vault's lower-case,
    colon-separated hex), so RV(serial) can be compared with that module's RV(secops.rotation.pki_cert_renew#module:serial)
    directly; O(expected_serial) is accepted in that format or as plain hex.
  - Never changes anything (C(changed=false)); runs in check mode too.
  - The role C(secops.rotation.pki_certs) uses it after each reload.
author:
  - secops.rotation developers (@secops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs as in a normal run.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  host:
    description: Name or address to connect to (IPv4, IPv6 or a DNS name), as seen from the host the module runs on.
    type: str
    required: true
  port:
    description: TCP port of the TLS endpoint.
    type: int
    required: true
  server_name:
    description:
      - Server name sent in the TLS handshake (SNI); a server with several certificates chooses by it. Also the
        name checked with O(ca_cert).
      - Defaults to O(host); no SNI is sent for an IP address (with O(ca_cert), the certificate must then hold that
        IP address as a SAN).
    type: str
  expected_serial:
    description:
      - Serial the endpoint must serve, as M(secops.rotation.pki_cert_renew) returns it (V(1c:23:4d)) or as plain hex
        (V(1c234d), V(0x1c234d)); case and leading zeros do not matter.
      - The task fails when the endpoint still serves another serial (or cannot be reached) after O(retries).
    type: str
  timeout:
    description: Seconds to wait for the connection and the handshake, per attempt.
    type: float
    default: 10
  retries:
    description:
      - How many more attempts after the first one. Defaults to V(5) with O(expected_serial), else V(0).
      - The task takes at most about (O(retries) + 1) x O(timeout) + O(retries) x O(delay) seconds.
    type: int
  delay:
    description: Seconds between attempts.
    type: float
    default: 1
  ca_cert:
    description:
      - PEM file with the CA certificate(s) the presented chain must lead to (on the host the module runs on). When
        set, the certificate is verified and the task fails if it does not verify; when not set, nothing is verified.
    type: path
  check_hostname:
    description: With O(ca_cert), whether the certificate must also name O(server_name) (or O(host)).
    type: bool
    default: true
requirements:
  - cryptography (Python library, on the host that runs the module)
notes:
  - The module runs on the managed host; O(host=localhost) checks the service of that host. Use C(delegate_to) to
    check it from elsewhere (a load balancer's view, the controller).
  - A certificate is public; nothing secret is read or returned.
seealso:
  - module: secops.rotation.pki_cert_renew
  - name: Rolling certificate renewal with the pki_certs role
    description: Renew, reload, check the served serial, restore on failure, revoke after the check.
    link: https://example.invalid/secops/rotation/tree/main/docs/pki_certs_role.md
'''

EXAMPLES = r'''
- name: Which certificate does the web server present?
  secops.rotation.served_certificate:
    host: localhost
    port: 443
    server_name: www.example.com
  register: served

- name: Show it
  ansible.builtin.debug:
    msg: "{{ served.serial }} for {{ served.dns_names | join(', ') }}, valid until {{ served.not_after }}"

- name: Renew the certificate (backup of the old pair) and reload nginx at once
  secops.rotation.pki_cert_renew:
    role: web
    common_name: www.example.com
    cert_path: /etc/nginx/tls/www.crt
    key_path: /etc/nginx/tls/www.key
    backup: true
  register: renewed
  notify: Reload nginx

- name: Reload now
  ansible.builtin.meta: flush_handlers

- name: Health check - nginx serves the new serial (up to 10 tries, 2 seconds apart)
  secops.rotation.served_certificate:
    host: localhost
    port: 443
    server_name: www.example.com
    expected_serial: "{{ renewed.serial }}"
    retries: 10
    delay: 2
  when: renewed is changed

- name: Check that clients trusting our CA accept it, by the name they use
  secops.rotation.served_certificate:
    host: 10.0.4.17
    port: 8443
    server_name: api.internal.example.com
    ca_cert: /etc/pki/ca-trust/source/anchors/internal-ca.pem
'''

RETURN = r'''
changed:
  description: Always V(false).
  returned: always
  type: bool
reason:
  description:
    - V(served) (no O(expected_serial)), V(match) (the endpoint serves the expected serial), V(mismatch) (it serves
      another one after every attempt; the task fails), V(unreachable) (no connection or no handshake after every attempt;
      the task fails), V(unverified) (with O(ca_cert), the certificate does not verify or does not name the server; the
      task fails), V(error) (invalid input; the task fails).
    - One endpoint per task, so there is no C(results) list and no C(reasons) count (the batch shape of the other
      modules, docs/results.md, does not apply); RV(changed), RV(reason) and RV(msg) are always returned.
  returned: always
  type: str
  sample: match
msg:
  description: What was found, for a person; on failure names the expected and the served serial (or the connection error).
  returned: always
  type: str
  sample: "localhost:8443 (server_name www.example.com) serves serial 1c:23:4d, not the expected serial 5e:6f, after 6 attempts 1s apart"
host:
  description: O(host) as given.
  returned: always
  type: str
port:
  description: O(port) as given.
  returned: always
  type: int
server_name:
  description: O(server_name) as given (V(null) if not).
  returned: always
  type: str
attempts:
  description: How many handshakes were made.
  returned: always
  type: int
  sample: 2
verified:
  description: Whether the certificate was verified (O(ca_cert) was given and it verified).
  returned: always
  type: bool
expected_serial:
  description: O(expected_serial) in the format of RV(serial).
  returned: when O(expected_serial) is given
  type: str
matched:
  description: Whether the endpoint serves O(expected_serial).
  returned: when O(expected_serial) is given
  type: bool
serial:
  description:
    - Serial of the presented certificate, lower-case hex bytes joined by colons - the format of
      M(secops.rotation.pki_cert_renew) and of Vault's C(<mount>/cert/<serial>). V(null) if the endpoint could not be read.
  returned: always
  type: str
  sample: 1c:23:4d:77:e1:63:98:f3:fd:9a:24:fa:89:a4:fc:6d:61:6f:6e:f8
subject:
  description: Subject DN of the presented certificate (RFC 4514).
  returned: when the endpoint presented a certificate
  type: str
  sample: CN=www.example.com
issuer:
  description: Issuer DN of the presented certificate (RFC 4514).
  returned: when the endpoint presented a certificate
  type: str
  sample: CN=example intermediate CA
common_name:
  description: Common name of the subject (V(null) if it has none).
  returned: when the endpoint presented a certificate
  type: str
  sample: www.example.com
dns_names:
  description: DNS names of the subject alternative names (lower case, sorted).
  returned: when the endpoint presented a certificate
  type: list
  elements: str
  sample: [example.com, www.example.com]
ip_sans:
  description: IP addresses of the subject alternative names.
  returned: when the endpoint presented a certificate
  type: list
  elements: str
not_before:
  description: Start of validity (UTC, ISO 8601).
  returned: when the endpoint presented a certificate
  type: str
  sample: "2026-11-26T11:21:14Z"
not_after:
  description: End of validity (UTC, ISO 8601).
  returned: when the endpoint presented a certificate
  type: str
  sample: "2027-02-24T11:21:44Z"
days_remaining:
  description: Days until RV(not_after) (negative when expired).
  returned: when the endpoint presented a certificate
  type: float
  sample: 89.99
fingerprint_sha256:
  description: SHA-256 of the certificate (DER), colon-separated hex.
  returned: when the endpoint presented a certificate
  type: str
tls_version:
  description: TLS version of the handshake.
  returned: when the endpoint presented a certificate
  type: str
  sample: TLSv1.3
'''

from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule
from ansible_collections.secops.rotation.plugins.module_utils._pki import CRYPTOGRAPHY_IMPORT_ERROR
from ansible_collections.secops.rotation.plugins.module_utils._tls import ServedCertificate, argument_spec


def main():
    RotationModule(ServedCertificate, argument_spec(), requires=[('cryptography', CRYPTOGRAPHY_IMPORT_ERROR)],
                   fail_extra=dict(reason='error', changed=False)).run()


if __name__ == '__main__':
    main()
