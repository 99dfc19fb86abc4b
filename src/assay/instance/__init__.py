"""The all-in-one instance: its data directory, its first-run setup, its trust files.

``assay init`` lays out a data directory (``layout``, ``setup``); ``assay up`` loads it and serves
every service on one origin (``app``); ``trust`` derives from the instance's keys and URL the
files a Sigstore client needs to trust it.
"""
