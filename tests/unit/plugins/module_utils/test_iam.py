# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of module_utils/_iam: due-ness, quota pre-flight, purge eligibility, backoff, tags, input checks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.secops.rotation.plugins.module_utils import _iam
from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._duration import DurationError
from ansible_collections.secops.rotation.plugins.modules.iam_key_rotate import argument_spec

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
DAY = 86400


def ago(seconds):
    return NOW - datetime.timedelta(seconds=seconds)


def key(key_id, status='Active', created=None, last_used=None, deactivated_at=None):
    return dict(id=key_id, status=status, created=created or ago(10 * DAY), last_used=last_used, deactivated_at=deactivated_at)


# ---- backoff ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('timeout, expected', [
    (3, [0.5, 1.0, 1.5]),
    (1, [0.5, 0.5]),
    (0.5, [0.5]),
    (20, [0.5, 1.0, 2.0, 4.0, 8.0, 4.5]),
    (60, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 4.5]),
])
def test_backoff_schedule_is_exponential_capped_and_bounded(timeout, expected):
    delays = _iam.verify_delays(timeout)
    assert delays == expected
    assert sum(delays) == pytest.approx(timeout)
    assert max(delays) <= _iam.BACKOFF_CAP


def test_backoff_of_a_long_timeout_is_capped_at_8s_apart():
    delays = _iam.verify_delays(600)
    assert sum(delays) == pytest.approx(600) and max(delays) == 8.0 and len(delays) < 80


# ---- tags -------------------------------------------------------------------------------------------------

def test_parse_tags_reads_ours_ignores_others_and_reports_garbage():
    tags = [{'Key': 'secops-rotation:deactivated:AKIAAAAAAAAAAAAAAAAA', 'Value': '2026-11-25T10:00:00Z'},
            {'Key': 'secops-rotation:deactivated:AKIABBBBBBBBBBBBBBBB', 'Value': 'yesterday'},
            {'Key': 'team', 'Value': 'billing'}]
    recorded, invalid = _iam.parse_tags(tags)
    assert recorded == {'AKIAAAAAAAAAAAAAAAAA': datetime.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)}
    assert invalid == ['AKIABBBBBBBBBBBBBBBB']
    assert _iam.parse_tags(None) == ({}, [])


def test_tag_key_is_a_valid_iam_tag_key():
    tag = _iam.tag_key('A' * 128)
    assert tag.startswith('secops-rotation:deactivated:') and len(_iam.tag_key('AKIAIOSFODNN7EXAMPLE')) <= 128


# ---- time options -----------------------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('2026-11-26T10:00:00Z', datetime.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    ('2026-11-26T11:00:00+01:00', datetime.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    ('2h', ago(7200)),
    ('15m', ago(900)),
    ('0', NOW),
    (None, None),
])
def test_parse_time_option(value, expected):
    assert _iam.parse_time_option(value, 'cutover', NOW) == expected


@pytest.mark.parametrize('value', ['yesterday', '2026-13-40T00:00:00Z', '-1h', '1.5h'])
def test_parse_time_option_rejects(value):
    with pytest.raises(RotationError, match='cutover: invalid time'):
        _iam.parse_time_option(value, 'cutover', NOW)


# ---- decisions --------------------------------------------------------------------------------------------

def test_rotation_due_reasons():
    assert _iam.rotation_due([], NOW, 90 * DAY) == (True, 'missing', None)
    assert _iam.rotation_due([key('A', 'Inactive')], NOW, 90 * DAY)[:2] == (True, 'missing')
    young = key('A', created=ago(10 * DAY))
    assert _iam.rotation_due([young], NOW, 90 * DAY) == (False, 'not_due', young)
    assert _iam.rotation_due([young], NOW, 90 * DAY, force=True) == (True, 'forced', young)
    assert _iam.rotation_due([young], NOW, 10 * DAY) == (True, 'age', young)  # exactly max_age is due


def test_rotation_due_looks_at_the_newest_active_key_only():
    old, new = key('OLD', created=ago(200 * DAY)), key('NEW', created=ago(DAY))
    assert _iam.rotation_due([old, new], NOW, 90 * DAY)[:2] == (False, 'not_due')
    newer_inactive = key('NEWER', 'Inactive', created=ago(60))
    assert _iam.rotation_due([old, newer_inactive], NOW, 90 * DAY)[1:] == ('age', old)


def test_purge_check():
    grace = DAY
    assert _iam.purge_check(key('A'), NOW, grace)[0:2] == (False, 'it is Active')
    ok, why, dummy = _iam.purge_check(key('A', 'Inactive'), NOW, grace)
    assert not ok and 'not recorded' in why
    ok, why, after = _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(3600)), NOW, grace)
    assert not ok and 'grace period of 1d ends at 2026-11-27T11:00:00Z' in why and after == ago(3600 - DAY)
    ok, why, dummy = _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(2 * DAY), last_used=ago(DAY)), NOW, grace)
    assert not ok and 'used at 2026-11-25T12:00:00Z, after its deactivation at 2026-11-24T12:00:00Z' in why
    ok, dummy, dummy = _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(2 * DAY), last_used=ago(3 * DAY)), NOW, grace)
    assert ok
    assert _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(2 * DAY)), NOW, grace)[0]


def test_last_use_in_the_same_second_as_the_deactivation_is_not_after_it():
    deactivated = ago(2 * DAY)
    same_second = deactivated + datetime.timedelta(microseconds=700000)
    assert not _iam.used_after(key('A', last_used=same_second), deactivated)
    assert _iam.used_after(key('A', last_used=deactivated + datetime.timedelta(seconds=1)), deactivated)
    assert not _iam.used_after(key('A'), deactivated)
    assert not _iam.used_after(key('A', last_used=NOW), None)


def test_plan_room_with_a_free_slot_deletes_nothing():
    assert _iam.plan_room([], NOW, DAY) == []
    assert _iam.plan_room([key('A')], NOW, DAY) == []


def test_plan_room_never_deletes_an_active_key():
    with pytest.raises(RotationError) as err:
        _iam.plan_room([key('AKIA1111'), key('AKIA2222')], NOW, DAY)
    text = str(err.value)
    assert 'AKIA1111 (Active): it is Active' in text and 'AKIA2222 (Active): it is Active' in text
    assert 'an Active key is never deleted to make room' in text


def test_plan_room_deletes_an_expired_unused_inactive_key():
    expired = key('OLD', 'Inactive', deactivated_at=ago(2 * DAY))
    assert _iam.plan_room([key('A'), expired], NOW, DAY) == [expired]


@pytest.mark.parametrize('inactive, why', [
    (key('OLD', 'Inactive', deactivated_at=ago(3600)), 'grace period of 1d ends'),
    (key('OLD', 'Inactive', deactivated_at=ago(2 * DAY), last_used=ago(60)), 'after its deactivation'),
    (key('OLD', 'Inactive'), 'not recorded'),
])
def test_plan_room_refuses_and_names_the_keys(inactive, why):
    with pytest.raises(RotationError) as err:
        _iam.plan_room([key('ACTIVE1'), inactive], NOW, DAY)
    assert 'OLD (Inactive): ' in str(err.value) and why in str(err.value) and 'ACTIVE1 (Active)' in str(err.value)


def test_plan_room_with_two_inactive_keys_deletes_the_one_that_may_go():
    waiting = key('WAIT', 'Inactive', deactivated_at=ago(60))
    expired = key('GONE', 'Inactive', deactivated_at=ago(5 * DAY))
    assert _iam.plan_room([waiting, expired], NOW, DAY) == [expired]


# ---- the rotator, without AWS -----------------------------------------------------------------------------

def params(**kwargs):
    base = dict(state='rotated', user_name='svc-a', users=None, max_age='90d', force=False, old_key=None, key_ids=None,
                cutover=None, grace_period='24h', verify=True, verify_timeout='60s', sts_endpoint_url=None, store_path=None,
                store_mount='secret', return_secret=True, now=None)
    base.update(kwargs)
    return base


@pytest.mark.parametrize('kwargs, message', [
    (dict(max_age='90x'), "max_age: invalid duration '90x'"),
    (dict(max_age=0), 'max_age: invalid duration 0: must be greater than zero'),
    (dict(grace_period='-1h'), "grace_period: invalid duration '-1h'"),
    (dict(verify_timeout='soon'), "verify_timeout: invalid duration 'soon'"),
    (dict(state='gone'), "state must be one of rotated, deactivated, purged, got 'gone'"),
    (dict(old_key='inactive', state='purged'), 'old_key is only used with state=rotated, not state=purged'),
    (dict(cutover='1h'), 'cutover is only used with state=deactivated, not state=rotated'),
    (dict(key_ids=['AKIAIOSFODNN7EXAMPLE']), 'key_ids is only used with state=deactivated or state=purged'),
    (dict(state='deactivated', key_ids=['not-a-key']), "invalid access key id 'not-a-key' in key_ids"),
    (dict(state='deactivated', cutover='yesterday'), "cutover: invalid time 'yesterday'"),
    (dict(state='purged', force=True), 'force is not supported with state=purged'),
    (dict(user_name='bad name!'), "user_name: invalid IAM user name 'bad name!'"),
    (dict(user_name='b\u00fcro'), "user_name: invalid IAM user name 'b\u00fcro'"),  # IAM names are ASCII
    (dict(user_name='svc-a\n'), "user_name: invalid IAM user name 'svc-a\\n'"),
    (dict(state='deactivated', key_ids=['AKIAIOSFODNN7EXAMPLE\n']), "invalid access key id 'AKIAIOSFODNN7EXAMPLE\\n'"),
    (dict(verify_timeout='2h'), 'verify_timeout: 2h is longer than the maximum of 1h'),
    (dict(store_path='aws/x', store_mount='  '), "invalid store_mount '  '"),
    (dict(store_path='aws/x', store_mount='team//kv'), "invalid store_mount 'team//kv'"),
    (dict(user_name=None), 'one of user_name or users is required'),
    (dict(now='tomorrow'), "now: invalid time 'tomorrow'"),
    (dict(sts_endpoint_url='ftp://sts'), "invalid sts_endpoint_url 'ftp://sts'"),
    (dict(sts_endpoint_url='http://[sts'), "invalid sts_endpoint_url 'http://[sts'"),  # urlsplit: Invalid IPv6 URL
    (dict(sts_endpoint_url='http://sts_1.example'), "invalid sts_endpoint_url 'http://sts_1.example'"),
    (dict(store_path='a//b'), "invalid store_path 'a//b'"),
    (dict(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'a'}]), 'users[1]: user a is given more than once'),
    (dict(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'b'}], store_path='aws/shared'),
     'store_path aws/shared is used for both a and b'),
    (dict(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'b', 'max_age': '1y'}]), "users[1].max_age: invalid duration '1y'"),
])
def test_validate_rejects_bad_input_before_any_call(kwargs, message):
    rotator = _iam.IamKeyRotator(params(**kwargs), aws=object())
    with pytest.raises((RotationError, DurationError)) as err:
        rotator.validate()
    assert message in str(err.value)


def test_validate_expands_a_batch_with_top_level_fallbacks_and_user_paths():
    rotator = _iam.IamKeyRotator(params(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'b', 'old_key': 'deleted'}],
                                        old_key='inactive', store_path='aws/{user_name}', url='http://vault.example:8200',
                                        token='t'), aws=object())
    items = rotator.validate()
    assert [(i['user_name'], i['old_key'], i['store']['path']) for i in items] == [('a', 'inactive', 'aws/a'), ('b', 'deleted', 'aws/b')]
    assert items[0]['_max_age'] == 90 * DAY and items[0]['_grace'] == DAY


def test_duplicate_key_ids_are_handled_once_in_the_order_given():
    key_ids = ['AKIABBBBBBBBBBBBBBBB', 'AKIAAAAAAAAAAAAAAAAA', 'AKIABBBBBBBBBBBBBBBB']
    rotator = _iam.IamKeyRotator(params(state='deactivated', key_ids=key_ids), aws=object())
    assert rotator.validate()[0]['key_ids'] == ['AKIABBBBBBBBBBBBBBBB', 'AKIAAAAAAAAAAAAAAAAA']


def test_store_mount_is_normalised():
    rotator = _iam.IamKeyRotator(params(store_path='/aws/{user_name}/', store_mount=' /team/kv/ ', url='http://vault.example',
                                        token='t'), aws=object())
    assert rotator.validate()[0]['store'] == {'mount': 'team/kv', 'path': 'aws/svc-a'}


def test_vault_options_are_checked_only_with_a_store():
    # No Vault address anywhere: fine without store_path, a clear error with it.
    _iam.IamKeyRotator(params(url=None), aws=object()).validate()
    with pytest.raises(Exception, match="invalid Vault url 'vault.example'"):
        _iam.IamKeyRotator(params(store_path='aws/x', url='vault.example', token='t'), aws=object()).validate()


def test_the_clock_option_sets_now():
    rotator = _iam.IamKeyRotator(params(now='2030-01-01T00:00:00Z'), aws=object())
    rotator.validate()
    assert rotator.now == datetime.datetime(2030, 1, 1, tzinfo=UTC)


class FakeError(Exception):
    """Stands for a botocore ClientError (has ``response``)."""

    def __init__(self, code):
        super().__init__(code)
        self.response = {'Error': {'Code': code, 'Message': 'not yet'}}


class FakeSts:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    def get_caller_identity(self):
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else self.last
        self.last = answer
        if isinstance(answer, Exception):
            raise answer
        return {'Arn': answer}


class FakeAws:
    def __init__(self, sts):
        self.sts = sts
        self.endpoint = 'unset'

    def client_for_keys(self, service, access_key, secret_key, endpoint_url=None, config=None):
        assert service == 'sts'
        self.endpoint = endpoint_url
        return self.sts


class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.slept = []

    def monotonic(self):
        return self.t

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.t += seconds


ARN = 'arn:aws:iam::123456789012:user/svc-a'


def make_verifier(answers, timeout='3s', **kwargs):
    sts, clock = FakeSts(answers), FakeClock()
    rotator = _iam.IamKeyRotator(params(verify_timeout=timeout, **kwargs), aws=FakeAws(sts), sleep=clock.sleep, monotonic=clock.monotonic)
    rotator.validate()
    return rotator, sts, clock


def test_verify_retries_with_backoff_until_iam_has_propagated():
    rotator, sts, clock = make_verifier([FakeError('InvalidClientTokenId'), FakeError('InvalidClientTokenId'), ARN], timeout='60s',
                                        sts_endpoint_url='http://sts.example:1')
    attempts, seconds = rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')
    assert (attempts, clock.slept, seconds) == (3, [0.5, 1.0], 1.5)
    assert rotator.aws.endpoint == 'http://sts.example:1'


def test_verify_gives_up_at_the_timeout_and_names_the_last_problem():
    rotator, sts, clock = make_verifier([FakeError('InvalidClientTokenId')], timeout='3s')
    with pytest.raises(RotationError) as err:
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')
    assert clock.slept == [0.5, 1.0, 1.5] and sts.calls == 4
    assert str(err.value) == ('the new access key AKIANEW of svc-a did not verify within 3s (4 attempts): '
                              'STS GetCallerIdentity failed: unexpected FakeError')
    assert 'SECRET' not in str(err.value)


def test_verify_insists_on_the_users_arn():
    rotator, dummy, dummy = make_verifier(['arn:aws:sts::123456789012:user/moto'], timeout='1s')
    with pytest.raises(RotationError, match='STS answered with arn:aws:sts::123456789012:user/moto instead of ' + ARN):
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')


def test_an_sts_endpoint_botocore_refuses_is_a_clear_error():
    class RefusingAws:
        def client_for_keys(self, *args, **kwargs):
            raise ValueError('Invalid endpoint: http://sts_1.example')

    rotator = _iam.IamKeyRotator(params(), aws=RefusingAws())
    rotator.validate()
    with pytest.raises(RotationError, match='cannot create the STS client to verify the new access key AKIANEW of svc-a: Invalid endpoint'):
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')


@pytest.mark.parametrize('url', ['http://127.0.0.1:4566', 'https://sts.eu-west-1.amazonaws.com', 'http://[::1]:5000/', 'http://localhost'])
def test_valid_endpoint_urls(url):
    assert _iam.valid_endpoint_url(url)


def test_verify_does_not_hide_bugs():
    rotator, dummy, dummy = make_verifier([ZeroDivisionError()], timeout='1s')
    with pytest.raises(ZeroDivisionError):
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')


# ---- the argument spec ------------------------------------------------------------------------------------

def test_no_option_or_alias_clashes_between_module_aws_and_vault_options():
    spec = argument_spec()
    names = []
    for name, option in spec.items():
        names.append(name)
        names.extend(option.get('aliases', []))
    assert len(names) == len(set(names))
    for name in ('user_name', 'verify_timeout', 'sts_endpoint_url', 'store_path', 'endpoint_url', 'url', 'token', 'timeout', 'username'):
        assert name in spec
    # secret options are no_log; the vault ones only matter with store_path (none is required)
    assert spec['secret_key']['no_log'] and spec['token']['no_log'] and spec['password']['no_log']
    assert not [name for name, option in spec.items() if option.get('required')]
