# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Connection options of every module in the secops.rotation.aws action group.
    DOCUMENTATION = r'''
options:
  profile:
    description:
      - Named profile of the shared AWS config and credentials files.
      - Mutually exclusive with O(access_key). If neither is set, boto3's default chain applies
        (E(AWS_PROFILE), E(AWS_ACCESS_KEY_ID)/E(AWS_SECRET_ACCESS_KEY)/E(AWS_SESSION_TOKEN), shared files,
        container and instance roles).
    type: str
    aliases: [aws_profile]
  region:
    description:
      - AWS region. If not set, E(AWS_REGION) or E(AWS_DEFAULT_REGION) or the profile's region is used,
        and V(us-east-1) if none is set (IAM and STS are global services).
    type: str
    aliases: [aws_region]
  endpoint_url:
    description:
      - URL of the AWS API endpoint, for example a VPC endpoint or a test server.
      - If not set, boto3 uses E(AWS_ENDPOINT_URL_IAM)/E(AWS_ENDPOINT_URL_STS) or E(AWS_ENDPOINT_URL), then the public endpoints.
    type: str
    aliases: [aws_endpoint_url]
  access_key:
    description:
      - AWS access key ID of the caller. Must be given with O(secret_key).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key of the caller. Must be given with O(access_key).
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - AWS session token, for temporary credentials.
    type: str
    aliases: [aws_session_token]
  max_attempts:
    description:
      - Total attempts per AWS API call (first try included), handled by botocore's retry modes
        with exponential backoff on throttling and transient errors.
    type: int
    default: 5
  retry_mode:
    description:
      - botocore retry mode. V(adaptive) also rate-limits the client after throttling.
    type: str
    default: standard
    choices: [standard, adaptive]
  aws_timeout:
    description:
      - Connect and read timeout in seconds for each AWS API call.
    type: int
    default: 30
requirements:
  - boto3 >= 1.44.0 and botocore >= 1.44.0 (Python libraries, on the host that runs the module)
notes:
  - The options can be set once for every module of the collection that talks to AWS with
    C(module_defaults) and the action group C(group/secops.rotation.aws).
'''
