"""The environment every sandboxed command starts with, whatever the backend."""

COMMAND_ENV = {
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "GIT_AUTHOR_NAME": "srft",
    "GIT_AUTHOR_EMAIL": "srft@sandbox.invalid",
    "GIT_COMMITTER_NAME": "srft",
    "GIT_COMMITTER_EMAIL": "srft@sandbox.invalid",
    # The checkout's owner may differ from the sandbox user (copied or overlaid files).
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
    # An agent's edit can keep a file's size and land in the same second as the last import;
    # Python's mtime+size bytecode check then runs the stale .pyc. Never write bytecode.
    "PYTHONDONTWRITEBYTECODE": "1",
}
