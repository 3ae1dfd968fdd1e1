# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rotation report (rotation_state action=report and the secops.rotation.rotation_report playbook) against
the lab's OpenBao: ages, due dates, overdue and stuck flags, KV version history, JSON + Markdown files."""


import datetime
import json
import os
import subprocess
import sys
import uuid

import hvac
import pytest
import yaml

from ansible_collections.secops.rotation.plugins.module_utils._common import to_iso, utcnow
from ansible_collections.secops.rotation.plugins.module_utils._ledger import Ledger
from ansible_collections.secops.rotation.plugins.module_utils._vault import get_vault_connection
from lab.runner import ansible_env  # same environment as run_playbook
from lab.runner import run_module

DAY = 86400
TOLERANCE = 30  # seconds between creating the entries and reading the report


def _ago(seconds):
    return to_iso(utcnow() - datetime.timedelta(seconds=seconds))


@pytest.fixture(scope='module')
def ledger(lab):
    """A prefix with four entries of four kinds: db 2 days old (overdue), iam 30 days old, pki expiring in 60 days
    (due in 30), generic with a pending secret staged 3 days ago (stuck), plus an entry edited by hand."""
    prefix = 'rotation-report-it-%s' % uuid.uuid4().hex[:10]
    client, opts = get_vault_connection({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    secrets = []

    def run(**params):
        if 'secret' in params:
            secrets.extend(params['secret'].values())
        result = Ledger(dict(prefix=prefix, **params), client=client, opts=opts).run()
        assert not result['failed'], result['msg']
        return result

    def token():
        return 'SeCrEt-%s' % uuid.uuid4().hex
    run(action='init', name='db-app', kind='db', id='lease-1', secret={'password': token()},
        metadata={'username': 'v-app-1', 'created_at': _ago(2 * DAY)})
    run(action='init', name='iam-svc', kind='iam', id='AKIAOLD', secret={'secret_access_key': token()},
        metadata={'access_key_id': 'AKIAOLD', 'created_at': _ago(40 * DAY)})
    run(action='stage', name='iam-svc', id='AKIANEW', secret={'secret_access_key': token()},
        metadata={'access_key_id': 'AKIANEW', 'created_at': _ago(30 * DAY)})
    run(action='promote', name='iam-svc')
    run(action='init', name='pki-web', kind='pki', id='11:22:33', secret={'private_key': token(), 'certificate': token()},
        metadata={'serial': '11:22:33', 'created_at': _ago(10 * DAY), 'not_after': _ago(-60 * DAY)})
    run(action='init', name='api-token', kind='generic', id='tok-1', secret={'token': token()},
        metadata={'created_at': _ago(3600)})
    run(action='stage', name='api-token', id='tok-2', secret={'token': token()}, metadata={'created_at': _ago(3 * DAY)})
    vault = hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])
    # Not a ledger entry at all: reported as invalid, the report still works.
    vault.secrets.kv.v2.create_or_update_secret(path='%s/stray' % prefix, secret={'note': 'not a ledger entry'})
    return {'prefix': prefix, 'secrets': secrets, 'vault': vault,
            'env': {'VAULT_ADDR': lab['VAULT_ADDR'], 'VAULT_TOKEN': lab['VAULT_TOKEN']}}


def _near(value, expected):
    return value is not None and abs(value - expected) <= TOLERANCE


def _check_report(report):
    by_name = dict((e['name'], e) for e in report['entries'])
    assert sorted(by_name) == ['api-token', 'db-app', 'iam-svc', 'pki-web', 'stray']
    db, iam, pki, api = by_name['db-app'], by_name['iam-svc'], by_name['pki-web'], by_name['api-token']
    assert (db['kind'], iam['kind'], pki['kind'], api['kind']) == ('db', 'iam', 'pki', 'generic')
    assert _near(db['age'], 2 * DAY) and db['age_human'].startswith('2d')
    assert _near(db['due_in'], -DAY) and db['overdue'] is True and db['flags'] == ['overdue']
    assert _near(iam['age'], 30 * DAY) and iam['overdue'] is False and _near(iam['due_in'], 60 * DAY)
    assert iam['current_id'] == 'AKIANEW' and iam['previous'] is True and iam['previous_id'] == 'AKIAOLD'
    assert iam['phase'] == 'promoted' and iam['rotated_at'] >= iam['created_at']
    assert _near(pki['age'], 10 * DAY) and _near(pki['due_in'], 30 * DAY) and pki['overdue'] is False
    assert pki['expires_at'] and pki['flags'] == []
    assert api['stuck'] is True and api['pending_id'] == 'tok-2' and _near(api['pending_age'], 3 * DAY)
    assert api['flags'] == ['stuck'] and api['overdue'] is False
    assert by_name['stray']['flags'] == ['invalid'] and by_name['stray']['problems']
    # History from KV version metadata, newest first, joined with the ledger's records.
    assert [(h['version'], h['action']) for h in iam['history']] == [(3, 'promote'), (2, 'stage'), (1, 'init')]
    assert all(h['created_time'] and h['deleted'] is False for h in iam['history'])
    summary = report['summary']
    assert summary['overdue_names'] == ['db-app'] and summary['stuck_names'] == ['api-token']
    assert summary['by_kind'] == {'db': 1, 'iam': 1, 'pki': 1, 'generic': 1, 'unknown': 1}
    return by_name


def test_report_action(ledger):
    result = run_module('rotation_state', {'action': 'report', 'prefix': ledger['prefix']}, env=ledger['env'])
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is False and result['msg'].startswith('report of 5 ledger entries')
    _check_report(result['report'])
    markdown = result['report_markdown']
    assert '| db-app | db | idle | lease-1 |' in markdown and 'overdue' in markdown
    assert '| api-token | generic | staged | tok-1 |' in markdown and 'stuck' in markdown
    assert not any(secret in result.stdout for secret in ledger['secrets'])


def test_report_policy_names_and_history_entries(ledger):
    result = run_module('rotation_state', {'action': 'report', 'prefix': ledger['prefix'], 'names': ['pki-web', 'iam-svc', 'gone'],
                                           'policy': {'iam': '10d', 'pki': {'renew_before': '70d'}}, 'history_entries': 2,
                                           'stuck_after': '4d'}, env=ledger['env'])
    assert not result.get('failed'), result.get('msg')
    entries = dict((e['name'], e) for e in result['report']['entries'])
    assert list(entries) == ['gone', 'iam-svc', 'pki-web']
    assert entries['gone']['flags'] == ['invalid'] and entries['gone']['problems'] == ['there is no ledger entry']
    assert entries['iam-svc']['overdue'] is True and _near(entries['iam-svc']['due_in'], -20 * DAY)
    assert entries['pki-web']['overdue'] is True and _near(entries['pki-web']['due_in'], -10 * DAY)
    assert [h['version'] for h in entries['iam-svc']['history']] == [3, 2]
    assert result['report']['policy']['iam'] == {'max_age': '10d'} and result['report']['stuck_after'] == '4d'


def test_report_flags_a_write_made_by_hand(ledger, lab):
    vault, prefix = ledger['vault'], ledger['prefix']
    name = 'edited-%s' % uuid.uuid4().hex[:6]
    client, opts = get_vault_connection({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    Ledger({'prefix': prefix, 'action': 'init', 'name': name, 'kind': 'db', 'id': 'L1', 'secret': {'password': 'x' * 12}},
           client=client, opts=opts).run()
    data = vault.secrets.kv.v2.read_secret_version(path='%s/%s' % (prefix, name), raise_on_deleted_version=True)['data']['data']
    data['current']['description'] = 'edited in the UI'
    vault.secrets.kv.v2.create_or_update_secret(path='%s/%s' % (prefix, name), secret=data)
    try:
        result = run_module('rotation_state', {'action': 'report', 'prefix': prefix, 'names': [name]}, env=ledger['env'])
        entry = result['report']['entries'][0]
        assert entry['flags'] == ['unrecorded_write']
        assert entry['history'][0]['version'] == 2 and entry['history'][0]['action'] is None
        assert entry['history'][1]['action'] == 'init'
    finally:
        vault.secrets.kv.v2.delete_metadata_and_all_versions(path='%s/%s' % (prefix, name))


def _playbook(tmp_path, ledger, extra_vars, verbosity=0):
    """``ansible-playbook secops.rotation.rotation_report`` with an inventory that names localhost explicitly and
    sets no interpreter (the playbook must cope with that, see DESIGN.md "Known traps")."""
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local'}}}}), encoding='utf-8')
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory),
            'secops.rotation.rotation_report', '-e', json.dumps(extra_vars)]
    if verbosity:
        argv.append('-' + 'v' * verbosity)
    proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(ledger['env']), timeout=300, check=False,
                          cwd=str(tmp_path))
    return proc.returncode, proc.stdout + proc.stderr


def test_report_playbook_writes_json_and_markdown(tmp_path, ledger):
    out = tmp_path / 'reports'
    rc, output = _playbook(tmp_path, ledger, {'rotation_report_dir': str(out), 'rotation_prefix': ledger['prefix']}, verbosity=4)
    assert rc == 0, output[-3000:]
    assert 'Traceback' not in output
    report = json.loads((out / 'rotation-report.json').read_text(encoding='utf-8'))
    _check_report(report)
    markdown = (out / 'rotation-report.md').read_text(encoding='utf-8')
    assert markdown.startswith('# Rotation report')
    table = [line for line in markdown.splitlines() if line.startswith('| ')]
    assert table[0].startswith('| Name | Kind | Phase | Current |') and len(table) == 6
    assert any(line.startswith('| db-app | db | idle | lease-1 |') and 'overdue' in line for line in table)
    assert any(line.startswith('| api-token | generic | staged | tok-1 |') and 'stuck' in line for line in table)
    assert oct((out / 'rotation-report.json').stat().st_mode & 0o777) == '0o640'
    assert 'overdue: db-app' in output and 'stuck: api-token' in output
    for secret in ledger['secrets']:
        assert secret not in output and secret not in markdown and secret not in json.dumps(report)


def test_report_playbook_can_fail_on_flags_after_writing(tmp_path, ledger):
    out = tmp_path / 'r'
    rc, output = _playbook(tmp_path, ledger, {'rotation_report_dir': str(out), 'rotation_prefix': ledger['prefix'],
                                              'rotation_report_name': 'weekly', 'rotation_report_fail_on_flags': True,
                                              'rotation_report_policy': {'db': '30d'}})
    assert rc == 2, output[-3000:]
    assert '0 overdue, 1 stuck ledger entries' in output
    assert (out / 'weekly.json').exists() and (out / 'weekly.md').exists()


def test_report_playbook_needs_a_directory(tmp_path, ledger):
    rc, output = _playbook(tmp_path, ledger, {'rotation_prefix': ledger['prefix']})
    assert rc == 2 and 'set rotation_report_dir' in output


def test_report_takes_times_without_an_offset_as_utc_whatever_the_local_zone(ledger):
    """An operator adopting a secret writes created_at without a zone; a controller in another zone must not shift it."""
    name, env = 'naive-%s' % uuid.uuid4().hex[:6], dict(ledger['env'], TZ='Asia/Kolkata')  # UTC+05:30
    created = _ago(2 * DAY - 3600)[:-1]  # no Z: 1d23h old, due in 1h under a 2d max_age
    adopted = run_module('rotation_state', {'action': 'init', 'prefix': ledger['prefix'], 'name': name, 'kind': 'db', 'id': 'L1',
                                            'secret': {'password': 'pw-naive-' + uuid.uuid4().hex},
                                            'metadata': {'created_at': created}}, env=env)
    assert not adopted.get('failed'), adopted.get('msg')
    assert adopted['entry']['current']['created_at'] == created + 'Z'
    try:
        result = run_module('rotation_state', {'action': 'report', 'prefix': ledger['prefix'], 'names': [name],
                                               'policy': {'db': '2d'}}, env=env)
        entry = result['report']['entries'][0]
        assert _near(entry['age'], 2 * DAY - 3600) and _near(entry['due_in'], 3600) and entry['overdue'] is False
        assert entry['next_due'].endswith('Z') and entry['flags'] == []
    finally:
        ledger['vault'].secrets.kv.v2.delete_metadata_and_all_versions(path='%s/%s' % (ledger['prefix'], name))
