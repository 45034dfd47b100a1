"""Fake service `alpha` for the dev stack tests."""

from tools.tests.fake_services.app import main

main("alpha")
