# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test runs ``python get_pip_X_Y.py [pip options] pip==X.Y [--no-setuptools] [--no-wheel]`` in a fresh
venv. Its download host is not reachable here, but PyPI is: bootstrap pip with ensurepip, then let pip
install the requested versions from the registry.
"""


import subprocess
import sys


def main():
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q'] + args)


if __name__ == '__main__':
    main()
