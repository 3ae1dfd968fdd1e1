#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: pki_cert_renew
short_description: Renew a TLS certificate from a Vault/OpenBao PKI mount when it is due, and deploy it atomically
version_added: 0.1.0
description:
  - Reads the certificate and private key deployed at O(cert_path) and O(key_path) on the host the module runs on
    and decides whether they must be renewed. The first reason that applies is returned as RV(reason) -
    V(forced) (O(force=true)), V(missing) (a file does not exist), V(invalid) (a file holds no PEM certificate that
    parses, or no readable unencrypted private key, or a damaged RSA key whose numbers do not belong together, or
    O(chain_path) does not start with the CA that issued the certificate), V(key_mismatch) (the key does not belong to
    the certificate), V(drift) (common name, DNS/email, IP or URI SANs differ from the request, or the key file is not in
    O(private_key_format), or O(bundle_path) does
    not start with the certificate or holds the key although O(bundle_include_key=false), or lacks it although
    O(bundle_include_key=true)), V(issuer_changed) (O(check_issuer=true) and the
    mount's CA did not sign the certificate), V(expiring) (less than O(renew_before) left, or expired), V(lifetime)
    (past O(renew_at_fraction) of its lifetime).
  - Otherwise nothing is issued and the result is C(changed=false) with RV(reason=not_due); if only the mode, owner
    or group of a file differ from what was asked, they are fixed in place with RV(reason=attributes).
  - When due, a new key and certificate are issued with C(<mount>/issue/<role>) and written with the collection's
    atomic file writer - each file goes to a temporary file in the same directory, gets its owner and mode before the
    first byte, is fsync'ed and renamed over the old one, so no reader ever sees a half-written file or a key with a
    looser mode. All files are prepared before the first rename; then chain, key, certificate and bundle are renamed
    back-to-back. A target directory that takes no new file (read-only, immutable) fails the item before anything
    is issued. If preparing or renaming fails, the files already renamed are put back as they were, no temporary
    or backup file is left, the new certificate is revoked, and the task fails.
  - Symbolic links are not followed to write a file. A O(cert_path), O(key_path), O(chain_path) or O(bundle_path)
    that is a symbolic link (also a dangling one) is refused before anything is issued, and so is a path whose
    directory is reached through a symbolic link that belongs to another user than root (or the user the module runs
    as) or that sits in a directory other users can write. Give the real path of the files. The directory is opened
    once, without following links, and the temporary files, backups and renames all happen relative to it.
  - Optionally keeps a backup of every replaced file (O(backup)) and revokes the previous certificate once the new
    files are in place (O(revoke_previous); this happens inside the task, before the handlers that reload the
    service run - see the notes for the order that keeps clients working).
  - Vault is only contacted when something has to be issued or revoked, or O(check_issuer=true), or the certificate
    is read from Vault (O(serial), O(ledger_entry), O(state=revoked)); a run where every certificate on disk is not due
    makes no Vault call at all.
  - Several certificates can be handled in one task with O(certificates) (one Vault login for all). All input of
    all items is validated before anything is read or changed.
  - B(A certificate that is not on this host) (deployed by Vault Agent, a load balancer, another team) - give O(serial)
    or O(ledger_entry) (the ledger's C(current.serial)) instead of the files. The module then reads the certificate
    from C(<mount>/cert/<serial>) and applies the same rules - V(forced), V(invalid) (it does not parse, or Vault lists
    it as revoked), V(drift) (common name or SANs), V(issuer_changed), V(expiring), V(lifetime); there is no key to
    check. When due, a new certificate is issued and returned (O(return_content=true)) and/or written to O(cert_path),
    O(key_path), ...; RV(previous_serial) is the serial that was checked. The new private key exists only in this run,
    so one of the two is required - without O(return_content=true) and without both O(cert_path) and O(key_path) the
    task is refused before anything is read or issued (check mode too). O(revoke_previous) is refused as well - the
    certificate is in use elsewhere - revoke RV(previous_serial) with O(state=revoked) once the new certificate is in
    place. An unknown serial fails naming serial and mount, and nothing is issued.
  - O(state=revoked) revokes the certificate O(serial) with C(<mount>/revoke) (the CRL lists it afterwards), for example
    the RV(previous_serial) of a renewal once the service serves the new certificate. It reads C(<mount>/cert/<serial>)
    first - a certificate Vault already lists as revoked is RV(reason=already_revoked) with C(changed=false); an
    unknown serial fails naming serial and mount, and nothing is revoked. File options are refused with it.
author:
  - secops.rotation developers (@secops)
extends_documentation_fragment:
  - secops.rotation.vault
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Predicts the reason and the files that would change; issues, writes and revokes nothing. It logs in to
      Vault when something would be issued, so that a bad token or address shows up in check mode too. With
      O(serial), O(ledger_entry) or O(state=revoked) it reads the certificate (and the ledger entry) from Vault, and
      predicts from what it read.
  diff_mode:
    support: full
    details: Shows serial, validity dates, common name, SANs and issuer before and after; never key material.
  platform:
    support: full
    platforms: posix
  action_group:
    description: Use C(group/secops.rotation.vault) in C(module_defaults) to set the connection options once.
    support: full
    membership: [secops.rotation.vault]
options:
  state:
    description:
      - V(present) renews the certificate when it is due (the files at O(cert_path), or the certificate in Vault named by
        O(serial) or O(ledger_entry)).
      - V(revoked) revokes the certificate O(serial) (in each item of O(certificates), its own O(serial)) with
        C(<mount>/revoke), unless Vault already lists it as revoked. Only O(serial), O(mount) and the connection options
        count; O(cert_path), O(key_path), O(chain_path), O(bundle_path), O(owner), O(group), O(backup),
        O(bundle_include_key), O(key_mode), O(cert_mode), O(return_content), O(revoke_previous) and O(ledger_entry) are
        refused; other options are ignored.
      - An expired certificate is not revoked by Vault (it refuses to put it on the CRL); the result is then
        RV(reason=expired) with C(changed=false) and a warning.
    type: str
    choices: [present, revoked]
    default: present
  serial:
    description:
      - Serial of a certificate in the PKI mount O(mount), as Vault prints it (V(1c:23:4d:...)) or as hex without
        separators (V(1c234d...)), in any case; hyphens work as separators too.
      - Quote it in YAML - an unquoted V(12:34:56) is read as the number 45296 (base 60).
      - With O(state=revoked), the certificate to revoke (required, at the top level or in each item).
      - With O(state=present), the certificate whose renewal is decided, read from C(<mount>/cert/<serial>) instead of
        a file. The new certificate and key must go somewhere - give O(cert_path) and O(key_path) (written there when
        due), O(return_content=true), or both; otherwise the task is refused before anything is read or issued.
        O(revoke_previous) is refused with it. Key checks do not apply (Vault keeps no key). A serial that Vault lists
        as revoked is renewed (RV(reason=invalid)).
      - Set it in the items of O(certificates), not at the top level with them.
    type: str
  ledger_entry:
    description:
      - Name of a ledger entry of kind V(pki) (see M(secops.rotation.rotation_state)) whose C(current.serial) is used like
        O(serial). Read from O(kv_mount)/O(prefix)/<name>. Only with O(state=present); not together with O(serial).
      - An entry that does not exist, is of another kind, or has no C(current.serial) fails the item; nothing is issued.
      - As with O(serial), O(cert_path) and O(key_path) or O(return_content=true) are required, and O(revoke_previous)
        is refused.
    type: str
  kv_mount:
    description:
      - Mount point of the KV version 2 secrets engine that holds the ledger (for O(ledger_entry)), as in
        M(secops.rotation.rotation_state).
    type: str
    default: secret
  prefix:
    description:
      - Folder under O(kv_mount) that holds the ledger entries (for O(ledger_entry)), as in
        M(secops.rotation.rotation_state).
    type: str
    default: rotation
  common_name:
    description:
      - Common name of the certificate (C(common_name) of C(<mount>/issue/<role>)).
      - Required with O(state=present), at the top level for a single certificate or in each item of O(certificates).
    type: str
  alt_names:
    description:
      - DNS names and email addresses for the subject alternative names.
      - Vault adds the common name to them unless the role excludes it; the drift check ignores the common name.
      - IP addresses belong in O(ip_sans).
    type: list
    elements: str
  ip_sans:
    description:
      - IP addresses for the subject alternative names. The role needs C(allow_ip_sans=true).
    type: list
    elements: str
  uri_sans:
    description:
      - URIs for the subject alternative names, for example V(spiffe://example.org/app). The role needs
        C(allowed_uri_sans) to allow them.
    type: list
    elements: str
  ttl:
    description:
      - Requested lifetime, such as V(90d), V(2160h) or a number of seconds. Default is the role's C(ttl).
      - Vault caps it at the role's and the mount's C(max_ttl).
      - Must be longer than O(renew_before), or every run would renew.
    type: str
  mount:
    description:
      - Mount point of the PKI secrets engine.
    type: str
    default: pki
  role:
    description:
      - PKI role to issue from (C(<mount>/issue/<role>)). Required with O(state=present), at the top level or in each
        item.
    type: str
  cert_path:
    description:
      - Path of the certificate file (PEM, the leaf certificate only). Required, at the top level for a single
        certificate or in each item of O(certificates), unless O(serial) or O(ledger_entry) is given (then optional
        with O(return_content=true), else required; if given, O(key_path) too, and the files are written only when a
        renewal is due - the decision comes from the certificate in Vault, not from the file). Its directory must
        exist.
      - This and the other paths must not be symbolic links, and their directories must not be reached through a
        symbolic link that another user than root (or the user the module runs as) owns or could replace; such
        paths are refused before anything is issued.
    type: path
  key_path:
    description:
      - Path of the private key file (PEM). Required like O(cert_path). Written with O(key_mode).
    type: path
  chain_path:
    description:
      - Optional path of a file with the CA chain (issuing CA first) as returned by Vault.
    type: path
  bundle_path:
    description:
      - Optional path of a combined file - the certificate followed by the CA chain (what nginx calls a full chain),
        and the private key at the end if O(bundle_include_key=true) (what HAProxy wants).
    type: path
  bundle_include_key:
    description:
      - Append the private key to O(bundle_path). The bundle then gets O(key_mode) instead of O(cert_mode).
    type: bool
    default: false
  owner:
    description:
      - Owner (name or uid) of all written files. Default keeps the owner of an existing file, else the user the
        module runs as.
    type: str
  group:
    description:
      - Group (name or gid) of all written files. Default like O(owner).
    type: str
  key_mode:
    description:
      - Mode of the private key file (and of the bundle if it includes the key), as a quoted octal string such as
        V('0600') or V('0640') (V('640') and V('0o640') work too).
      - Refused if it gives the group more than read access (write or execute) or gives other users (the last digit)
        any access. The owner's digit is free.
      - Quote it. An unquoted number is used as it is, as ansible-core does for C(mode) (so an unquoted V(0600), which
        YAML reads as the number 384, is mode 0600), but a number whose decimal digits also read as an octal mode is
        refused as ambiguous - for example V(440), which Ansible would apply as mode 0670 (group may write the key);
        the message names the quoted value to write (V('0440')). Numbers above 0777 (V(600) is 01130) are refused too.
    type: raw
    default: '0600'
  cert_mode:
    description:
      - Mode of the certificate, chain and bundle (without key) files, as a quoted octal string such as V('0644').
      - Only the permission bits (0000-0777) are allowed. Numbers are read like O(key_mode) - used as they are, and
        refused when ambiguous (V(420), what YAML makes of an unquoted V(0644), is refused with a message offering
        V('0644') or V('0420')).
    type: raw
    default: '0644'
  renew_before:
    description:
      - Renew when fewer than this is left before the certificate expires (reason V(expiring)). V(30d), V(720h), or
        seconds. V(0) renews only expired certificates.
    type: str
    default: 30d
  renew_at_fraction:
    description:
      - Also renew once this fraction of the certificate's lifetime (C(notAfter - notBefore)) has passed (reason
        V(lifetime)), like cert-manager. For example V(0.67) renews a 90-day certificate after 60 days.
      - Must be greater than 0 and less than 1. Not set means lifetime is not checked.
    type: float
  check_issuer:
    description:
      - Also renew when the certificate was not signed by the mount's current default CA (reason V(issuer_changed)),
        for example after the CA was rotated or the certificate came from another CA.
      - Reads C(<mount>/ca/pem), so Vault is contacted on every run.
    type: bool
    default: false
  force:
    description:
      - Renew even if the certificate is not due (reason V(forced)).
    type: bool
    default: false
  backup:
    description:
      - Keep a copy of every file that is replaced, named C(<file>.<YYYYmmddTHHMMSS>.<pid>~), with the old owner and
        group and the old mode narrowed by the new one (C(old & new)) - the backup of a V(0644) key replaced with
        O(key_mode=0600) is V(0600). The paths are returned in RV(backup_files).
    type: bool
    default: false
  revoke_previous:
    description:
      - After the new files are in place, revoke the previous certificate with C(<mount>/revoke) so that it is on the
        CRL. A failed revocation (for example a certificate from another CA) does not undo the renewal; it is
        reported as a warning naming the serial.
      - The revocation happens inside this task, that is B(before) a notified handler reloads the service (handlers
        run at the end of the play); until the reload, the service still presents the revoked certificate and clients
        that check the CRL or OCSP fail. For a reloaded service leave this off and revoke RV(previous_serial) in a
        later task, after the reload and a health check, with O(state=revoked) and O(serial) (see the notes and
        EXAMPLES).
      - Refused with O(serial) or O(ledger_entry) - that certificate is deployed elsewhere and may still be in use;
        revoke RV(previous_serial) with O(state=revoked) once the new certificate is in place.
    type: bool
    default: false
  private_key_format:
    description:
      - Format of the private key, V(pem) (the key type's traditional PEM, for example C(RSA PRIVATE KEY)) or
        V(pkcs8) (C(PRIVATE KEY)).
    type: str
    choices: [pem, pkcs8]
    default: pem
  return_content:
    description:
      - Return the certificate, chain and B(private key) in RV(certificate), RV(ca_chain) and RV(private_key).
      - With O(serial) or O(ledger_entry), a certificate that is not due is returned from Vault without chain and key
        (RV(ca_chain) and RV(private_key) are V(null) - Vault keeps no private key); a renewed one with all three.
      - The private key is a secret, so a task that sets this must use C(no_log=true) - whether it registers the result
        or not, because a failing task prints its result.
      - Nothing of this is returned when the task fails (for example one item of O(certificates) fails); a failure
        result carries serials, paths and reasons only; the keys of the items that were renewed are in their files.
    type: bool
    default: false
  certificates:
    description:
      - Several certificates in one task. Each item takes the options above; an option an item does not set falls
        back to the task's top-level value (so O(role), O(mount), O(ttl), O(owner) ... can be set once).
      - O(common_name), O(cert_path), O(key_path), O(chain_path), O(bundle_path), O(serial) and O(ledger_entry) must then
        be set in the items, not at the top level. No two items may share a file, and no two items of O(state=revoked)
        the same serial. O(state), O(kv_mount) and O(prefix) are set for the whole task.
    type: list
    elements: dict
    suboptions:
      common_name:
        description: See O(common_name).
        type: str
      alt_names:
        description: See O(alt_names).
        type: list
        elements: str
      ip_sans:
        description: See O(ip_sans).
        type: list
        elements: str
      uri_sans:
        description: See O(uri_sans).
        type: list
        elements: str
      ttl:
        description: See O(ttl).
        type: str
      mount:
        description: See O(mount).
        type: str
      role:
        description: See O(role).
        type: str
      cert_path:
        description: See O(cert_path).
        type: path
      key_path:
        description: See O(key_path).
        type: path
      chain_path:
        description: See O(chain_path).
        type: path
      bundle_path:
        description: See O(bundle_path).
        type: path
      bundle_include_key:
        description: See O(bundle_include_key).
        type: bool
      owner:
        description: See O(owner).
        type: str
      group:
        description: See O(group).
        type: str
      key_mode:
        description: See O(key_mode).
        type: raw
      cert_mode:
        description: See O(cert_mode).
        type: raw
      renew_before:
        description: See O(renew_before).
        type: str
      renew_at_fraction:
        description: See O(renew_at_fraction).
        type: float
      check_issuer:
        description: See O(check_issuer).
        type: bool
      force:
        description: See O(force).
        type: bool
      backup:
        description: See O(backup).
        type: bool
      revoke_previous:
        description: See O(revoke_previous).
        type: bool
      private_key_format:
        description: See O(private_key_format).
        type: str
        choices: [pem, pkcs8]
      return_content:
        description: See O(return_content).
        type: bool
      serial:
        description: See O(serial).
        type: str
      ledger_entry:
        description: See O(ledger_entry).
        type: str
requirements:
  - cryptography >= 44 (Python library, on the host that runs the module)
notes:
  - Run the module on the host where the files live (each host usually has its own certificate); the host needs
    network access to Vault and the Python libraries C(hvac) and C(cryptography).
  - Runs of this module that renew files in the same directory (overlapping schedules, two playbooks) take turns
    through a lock, waiting up to 120 seconds; the later run then finds the fresh certificate and reports V(not_due)
    instead of issuing a second one. Check mode does not wait. The lock is a lock file named after the directory's
    device and inode in a directory only the module's user can open - C(/run/secops-rotation) (mode 0700) for root;
    C(secops-rotation-<uid>) in C(/run/lock) or C(/tmp) for another user - so no other local user can hold it or
    take it. Nothing is created in the target directory, and no lock file is left behind.
  - Order for a service that is reloaded by a handler - renew (without O(revoke_previous), C(register) the result,
    C(notify) the reload), C(ansible.builtin.meta) V(flush_handlers) so the reload happens now, a health check of the service, and only
    then revoke RV(previous_serial) in a later task with this module, O(state=revoked) and O(serial). O(revoke_previous)
    revokes inside the renewing task, before the handlers run, so clients that check the CRL fail until the reload. Use
    O(revoke_previous) only where nothing has to be reloaded (a client certificate read on every use).
  - Every task that can return a secret needs C(no_log=true) - here every task with O(return_content=true) - not only
    tasks that register it, because a failing task prints its result.
  - O(revoke_previous) revokes the serial of the certificate file on disk; if the files were lost, it has nothing to
    revoke. With O(serial)/O(ledger_entry) it is refused; RV(previous_serial) is then the serial checked, to revoke
    with O(state=revoked) later.
  - With O(serial)/O(ledger_entry) the module does not update the ledger; record the new RV(serial) with
    M(secops.rotation.rotation_state) (O(ledger_entry) reads C(current.serial), so stage and promote it there).
  - Key and certificate are two files. All files are prepared first (written, fsync'ed, backed up) and then renamed
    one right after the other, so the time in which a reader could see the new key with the old certificate is about
    one C(rename) system call (well under a millisecond on a local disk). Reload services after this task (a handler)
    rather than having them read the files at arbitrary times.
seealso:
  - name: Renewing certificates with secops.rotation
    description: How-to with examples (renewal policy, batches, reload handlers, revocation).
    link: https://example.invalid/secops/rotation/tree/main/docs/pki_certs.md
  - name: Vault PKI secrets engine API
    description: The C(issue) and C(revoke) endpoints this module calls.
    link: https://developer.hashicorp.com/vault/api-docs/secret/pki
'''

EXAMPLES = r'''
# Renew, reload, check, and only then revoke the previous certificate.
- name: Keep the web server certificate fresh (renew 30 days before expiry)
  secops.rotation.pki_cert_renew:
    url: https://vault.example.com:8200
    mount: pki_int
    role: web
    common_name: www.example.com
    alt_names: [example.com]
    ttl: 90d
    cert_path: /etc/nginx/tls/www.crt
    key_path: /etc/nginx/tls/www.key
    bundle_path: /etc/nginx/tls/www-fullchain.crt
    group: nginx
    key_mode: '0640'
    backup: true
  register: web_cert
  notify: Reload nginx

- name: Reload nginx now rather than at the end of the play
  ansible.builtin.meta: flush_handlers

- name: Health check - nginx answers over TLS with the new certificate
  ansible.builtin.uri:
    url: https://www.example.com/health
  when: web_cert.changed

- name: Revoke the previous certificate now that nginx serves the new one
  secops.rotation.pki_cert_renew:
    url: https://vault.example.com:8200
    mount: pki_int
    state: revoked
    serial: "{{ web_cert.previous_serial }}"
  when: web_cert.changed and web_cert.previous_serial

- name: A client certificate read on every use (nothing to reload) may revoke the old one at once
  secops.rotation.pki_cert_renew:
    role: clients
    common_name: backup-job.internal.example.com
    cert_path: /etc/backup-job/client.crt
    key_path: /etc/backup-job/client.key
    revoke_previous: true

- name: Renew after two thirds of the lifetime, and when the CA changed
  secops.rotation.pki_cert_renew:
    role: service
    common_name: api.internal.example.com
    ip_sans: [10.0.4.17]
    renew_at_fraction: 0.67
    check_issuer: true
    cert_path: /etc/api/tls.crt
    key_path: /etc/api/tls.key
    chain_path: /etc/api/ca-chain.crt
  register: api_cert

- name: Show when the certificate expires
  ansible.builtin.debug:
    msg: "{{ api_cert.serial }} valid until {{ api_cert.not_after }} ({{ api_cert.days_remaining_after }} days)"

- name: Many certificates in one task, shared settings at the top
  secops.rotation.pki_cert_renew:
    role: service
    ttl: 30d
    renew_before: 10d
    owner: app
    certificates:
      - common_name: a.internal.example.com
        cert_path: /etc/app/a.crt
        key_path: /etc/app/a.key
      - common_name: b.internal.example.com
        alt_names: [b-alias.internal.example.com]
        cert_path: /etc/app/b.crt
        key_path: /etc/app/b.key
  register: renewal

- name: Return the new key too (secret, hence no_log)
  secops.rotation.pki_cert_renew:
    role: service
    common_name: c.internal.example.com
    cert_path: /etc/app/c.crt
    key_path: /etc/app/c.key
    return_content: true
  register: cert_with_key
  no_log: true

- name: Revoke several certificates by serial (already revoked ones are left alone)
  secops.rotation.pki_cert_renew:
    state: revoked
    mount: pki_int
    certificates:
      - serial: "1c:23:4d:77:e1:63:98:f3:fd:9a:24:fa:89:a4:fc:6d:61:6f:6e:f8"
      - serial: "4A5E0C1F9B7D3E2A1C0B9F8E7D6C5B4A39281706"  # quote serials: YAML reads 12:34:56 as a number

# A certificate that is not on this host (the load balancer's): due or not by the copy Vault keeps.
- name: Renew the load balancer certificate when it has less than 30 days left
  secops.rotation.pki_cert_renew:
    mount: pki_int
    role: web
    common_name: www.example.com
    alt_names: [example.com]
    serial: "{{ lb_cert_serial }}"
    return_content: true
  register: lb_cert
  no_log: true  # the new private key

- name: Hand the new certificate to the load balancer
  ansible.builtin.include_tasks: upload_to_lb.yml
  when: lb_cert.changed

# The serial from the ledger (current.serial of the pki entry "lb/www"), the new files written here when due.
- name: Renew by the ledger's current certificate
  secops.rotation.pki_cert_renew:
    role: web
    common_name: www.example.com
    ledger_entry: lb/www
    renew_at_fraction: 0.67
    cert_path: /etc/haproxy/tls/www.crt
    key_path: /etc/haproxy/tls/www.key
  register: ledger_cert

- name: Settings for every Vault module of the collection in one place
  module_defaults:
    group/secops.rotation.vault:
      url: https://vault.example.com:8200
      auth_method: approle
      role_id: "{{ vault_role_id }}"
      secret_id: "{{ vault_secret_id }}"
  block:
    - name: Renew the certificate of this host, forced
      secops.rotation.pki_cert_renew:
        role: hosts
        common_name: "{{ inventory_hostname }}"
        cert_path: /etc/pki/host.crt
        key_path: /etc/pki/host.key
        force: true
'''

RETURN = r'''
changed:
  description: A certificate was issued and written, or (RV(reason=attributes)) a file's mode/owner was fixed.
  returned: always
  type: bool
reason:
  description:
    - Why the certificate was (or would be) renewed - V(forced), V(missing), V(invalid), V(key_mismatch), V(drift),
      V(issuer_changed), V(expiring), V(lifetime) - or V(not_due), V(attributes) (only mode/owner fixed), V(error)
      (this item failed).
    - With O(state=revoked) - V(revoked) (revoked now, or would be in check mode), V(already_revoked), V(expired) (Vault
      refused to revoke an expired certificate), V(error).
    - For O(certificates), the reason shared by all items, else V(mixed); see RV(reasons) and RV(results).
    - V(error) also when the task failed before any certificate was looked at (invalid input, a missing library).
  returned: always
  type: str
  sample: expiring
reasons:
  description:
    - How many certificates had each reason (one entry with the count 1 for a single certificate).
    - The shape of every module's result is described in docs/results.md.
  returned: always
  type: dict
  sample: {"missing": 2, "not_due": 18}
msg:
  description:
    - What happened, for a person - the reason with its detail, the new serial and expiry. Never a secret.
    - >-
      For O(certificates), C(<which certificates failed and why>; <notes>; <summary>) - the first part only when one
      failed (V(1 of 3 certificates failed: c.example.com: <why>)); the notes say for example that O(return_content)
      returned nothing because the task failed; the summary is V(renewed 2 of 20 certificates (expiring: 1, missing: 1);
      18 not due) (with O(state=revoked), V(revoked 1 of 2 certificates; 1 already revoked or expired)).
  returned: always
  type: str
  sample: "renewed www.example.com: expiring (12d3h left, renew_before 30d); serial 1c:23:4d valid until 2027-02-24T11:21:44Z"
results:
  description:
    - One entry per certificate, in the order given (a single certificate gives one entry). Each entry has the keys
      documented below as "returned - for a single certificate, and in each entry of RV(results)", plus C(changed),
      C(failed), C(reason) and C(msg).
    - With O(state=revoked), each entry has RV(serial), RV(mount), RV(common_name), RV(not_after), RV(revoked),
      RV(revocation_time), C(changed), C(failed), C(reason) and C(msg) (no paths, dates of renewal or names).
  returned: always
  type: list
  elements: dict
common_name:
  description: The requested common name. With O(state=revoked), the common name of the certificate O(serial).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
  sample: www.example.com
cert_path:
  description: Absolute path of the certificate file.
  returned: for a single certificate, and in each entry of RV(results)
  type: str
  sample: /etc/nginx/tls/www.crt
key_path:
  description: Absolute path of the private key file.
  returned: for a single certificate, and in each entry of RV(results)
  type: str
chain_path:
  description: Absolute path of the chain file, or V(null).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
bundle_path:
  description: Absolute path of the bundle file, or V(null).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
serial:
  description:
    - Serial of the certificate now deployed (the new one after a renewal), in Vault's colon-separated hex.
      V(null) in check mode when a new certificate would be issued.
    - With O(serial)/O(ledger_entry) and not due, the serial that was checked.
    - With O(state=revoked), the (normalized) serial revoked.
  returned: for a single certificate, and in each entry of RV(results)
  type: str
  sample: 1c:23:4d:77:e1:63:98:f3:fd:9a:24:fa:89:a4:fc:6d:61:6f:6e:f8
previous_serial:
  description:
    - Serial of the certificate that was on disk before a renewal (V(null) if there was none or nothing was renewed).
    - With O(serial)/O(ledger_entry), always the serial that was checked (renewed or not).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
ledger_entry:
  description: The O(ledger_entry) whose C(current.serial) was checked, else V(null).
  returned: for a single certificate, and in each entry of RV(results), with O(state=present)
  type: str
revoked:
  description: The certificate O(serial) is revoked after this task (V(true) also for V(already_revoked); in check mode,
    V(true) when it would be revoked).
  returned: with O(state=revoked), for a single certificate and in each entry of RV(results)
  type: bool
revocation_time:
  description: When Vault revoked the certificate (UTC, ISO 8601); V(null) in check mode and when it was not revoked.
  returned: with O(state=revoked), for a single certificate and in each entry of RV(results)
  type: str
  sample: "2026-11-30T08:18:54Z"
mount:
  description: The PKI mount of the revoked certificate.
  returned: with O(state=revoked), for a single certificate and in each entry of RV(results)
  type: str
  sample: pki_int
revoked_serial:
  description: Serial revoked because of O(revoke_previous), else V(null).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
not_before:
  description: Start of validity of the deployed certificate (UTC, ISO 8601).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
  sample: "2026-11-26T11:21:14Z"
not_after:
  description: End of validity of the deployed certificate (UTC, ISO 8601). In check mode, the predicted end when
    O(ttl) is set. With O(serial)/O(ledger_entry) and not due, that of the certificate checked; with O(state=revoked),
    that of the certificate O(serial).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
  sample: "2027-02-24T11:21:44Z"
days_remaining_before:
  description: Days the certificate on disk had left before this run (negative if expired; V(null) if there was none).
  returned: for a single certificate, and in each entry of RV(results)
  type: float
  sample: 12.13
days_remaining_after:
  description: Days the deployed certificate has left after this run (in check mode, O(ttl) in days if set).
  returned: for a single certificate, and in each entry of RV(results)
  type: float
  sample: 90.0
days_remaining:
  description: The same as RV(days_remaining_after) - with O(serial)/O(ledger_entry) and not due, the days the
    certificate checked has left.
  returned: for a single certificate, and in each entry of RV(results), with O(state=present)
  type: float
  sample: 47.5
alt_names:
  description: DNS and email SANs of the deployed certificate (lower case, sorted; includes the common name when
    Vault added it).
  returned: for a single certificate, and in each entry of RV(results)
  type: list
  elements: str
ip_sans:
  description: IP SANs of the deployed certificate.
  returned: for a single certificate, and in each entry of RV(results)
  type: list
  elements: str
uri_sans:
  description: URI SANs of the deployed certificate.
  returned: for a single certificate, and in each entry of RV(results)
  type: list
  elements: str
issuer:
  description: Issuer DN of the deployed certificate (RFC 4514).
  returned: for a single certificate, and in each entry of RV(results)
  type: str
  sample: CN=example intermediate CA
backup_files:
  description: Backups made with O(backup=true), by file (V(key), V(cert), V(chain), V(bundle)); each has the old owner
    and group and the old mode narrowed by the new one.
  returned: for a single certificate, and in each entry of RV(results)
  type: dict
  sample: {"cert": "/etc/nginx/tls/www.crt.20261126T112144.4242~", "key": "/etc/nginx/tls/www.key.20261126T112144.4242~"}
certificate:
  description: The deployed certificate (PEM); with O(serial)/O(ledger_entry) and not due, the one read from Vault.
  returned: when O(return_content=true) and the task succeeds, except in check mode for a certificate that would be renewed
  type: str
ca_chain:
  description: The CA chain (PEM) as written to O(chain_path) (from the file on disk if nothing was renewed; V(null) with
    O(serial)/O(ledger_entry) when nothing was renewed).
  returned: when O(return_content=true) and the task succeeds, except in check mode for a certificate that would be renewed
  type: str
private_key:
  description:
    - B(Secret.) The deployed private key (PEM). A task that sets O(return_content=true) needs C(no_log=true).
    - V(null) with O(serial)/O(ledger_entry) when nothing was renewed (Vault keeps no private key).
    - Never part of a failed task's result.
  returned: when O(return_content=true) and the task succeeds, except in check mode for a certificate that would be renewed
  type: str
diff:
  description:
    - With C(--diff), serial, dates, names and issuer before and after, with C(before_header)/C(after_header) naming the
      certificate file and common name (or C(<mount>/cert/<serial>)). No key material.
    - For a single certificate a dict; for O(certificates) a list with one such dict per certificate that changed, in
      item order. The entries of RV(results) have no C(diff).
  returned: when diff mode is on and something changed
  type: raw
'''

from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule
from ansible_collections.secops.rotation.plugins.module_utils._pki import (
    CONTENT_KEYS, CRYPTOGRAPHY_IMPORT_ERROR, PkiCertRenewer, argument_spec)


def main():
    RotationModule(PkiCertRenewer, argument_spec(), requires=[('cryptography', CRYPTOGRAPHY_IMPORT_ERROR)],
                   secret_keys=CONTENT_KEYS, fail_extra=dict(changed=False, reason='error')).run()


if __name__ == '__main__':
    main()
