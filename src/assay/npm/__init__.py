"""npm's rules, each defined once: pure functions and types, no I/O, no service imports.

``names`` (validate-npm-package-name, request paths), ``versions`` (the one semver),
``package_json`` (the manifest as npm normalises it, ``bin``), ``tarball`` (reading a ``.tgz``
safely, once) and ``hosted`` (git host URLs, the one repository normaliser).
"""
