# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Connection options of every module in the secops.rotation.vault action group.
    DOCUMENTATION = r'''
options:
  url:
    description:
      - URL of the Vault or OpenBao server, for example V(https://vault.example.com:8200).
      - If not set, the environment variable E(VAULT_ADDR) is used, then E(BAO_ADDR).
    type: str
    aliases: [vault_addr]
  token:
    description:
      - Token used with O(auth_method=token).
      - If not set, the environment variable E(VAULT_TOKEN) is used, then E(BAO_TOKEN).
      - The token is checked once with C(auth/token/lookup-self) so that a bad token fails early with a clear message.
    type: str
  namespace:
    description:
      - Vault Enterprise / OpenBao namespace.
      - If not set, the environment variable E(VAULT_NAMESPACE) is used, then E(BAO_NAMESPACE).
    type: str
  ca_cert:
    description:
      - Path to a PEM file with the CA that signed the server certificate.
      - If not set, the environment variable E(VAULT_CACERT) is used, then E(BAO_CACERT); otherwise the system trust store.
    type: path
    aliases: [cacert]
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate. Set to V(false) only in a lab.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP request to Vault.
    type: int
    default: 30
  retries:
    description:
      - How many times a request is retried when the server cannot be reached, or when an idempotent
        request (read, list) gets HTTP 412, 429, 500, 502, 503 or 504. Writes are never re-sent after
        they reached the server, and neither are reads that create a secret (C(<mount>/creds/<role>));
        after an uncertain failure the module looks for what was created instead. Backoff is exponential
        (0.3 s, 0.6 s, 1.2 s, ...). 0 to 10.
    type: int
    default: 3
  auth_method:
    description:
      - How to log in to Vault.
      - V(token) uses O(token); V(approle) uses O(role_id) and O(secret_id); V(userpass) uses O(username) and O(password).
    type: str
    default: token
    choices: [token, approle, userpass]
  auth_mount_point:
    description:
      - Mount point of the auth method, if not the default (V(approle), V(userpass)).
    type: str
  role_id:
    description:
      - AppRole role ID, for O(auth_method=approle).
    type: str
  secret_id:
    description:
      - AppRole secret ID, for O(auth_method=approle). Not needed for roles created with C(bind_secret_id=false).
    type: str
  username:
    description:
      - Vault user name, for O(auth_method=userpass).
    type: str
  password:
    description:
      - Vault user password, for O(auth_method=userpass).
    type: str
requirements:
  - hvac >= 2.4.0 (Python library, on the host that runs the module)
notes:
  - The options can be set once for every module of the collection that talks to Vault with
    C(module_defaults) and the action group C(group/secops.rotation.vault).
  - Works unchanged with HashiCorp Vault and OpenBao.
'''
