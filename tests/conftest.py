pytest_plugins = [
    "tests.fixtures.pki",
    "tests.fixtures.services",
    "tests.fixtures.imap",
    "tests.fixtures.browser",
    "tests.fixtures.realworld",
    "tests.fixtures.smtp",
]
