# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`'s playbook (examples/demo/rotate_all.yml) rotates all three kinds against the lab."""


import hvac
import pytest

from lab.demo import run_demo


# The smoke test of `make matrix` (noxfile.py): every module, through ansible-playbook, on each supported ansible-core.
@pytest.mark.smoke
def test_demo_rotates_all_three_kinds(lab, tmp_path):
    summary = run_demo(lab, str(tmp_path))
    text = '\n'.join(summary['db'] + summary['iam'] + summary['pki'])
    assert "re-run with A's lease: changed=False (not_due)" in text
    assert 'STS-verified=True' in text and 'A deactivated: True' in text
    assert 're-run: changed=False (not_due)' in text
    assert '3 ledger entries' in summary['ledger'] and '0 overdue, 0 stuck' in summary['ledger']
    # The ledger in OpenBao really holds B as current and nothing pending or previous.
    client = hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])
    folders = client.secrets.kv.v2.list_secrets(path='rotation', mount_point='secret')['data']['keys']
    demo = sorted(f for f in folders if f.startswith('demo-'))[-1]
    for kind in ('db', 'iam', 'pki'):
        entry = client.secrets.kv.v2.read_secret_version(path='rotation/%s%s' % (demo, kind), mount_point='secret',
                                                         raise_on_deleted_version=True)['data']['data']
        assert entry['phase'] == 'idle' or entry['pending'] is None
        current = entry['current']
        assert (current.get('username') or current['id']) in text and entry['previous'] is None
    # The certificate B is on disk with its private key 0600.
    assert (tmp_path / 'tls' / 'demo.key').stat().st_mode & 0o777 == 0o600
