"""The gate's test step (SPEC 8, 14): named checks, what a run proves, flaky reruns, the
quarantine, the change's own tests, and merge's reuse of verify's run.

- ``suite``: the checks on one tree (verify and merge);
- ``report``: batty's pytest plugin and junit reports, read into counts;
- ``pytest_report``: the plugin itself (imports nothing of batty);
- ``baseline``: the base's last passing run of each check;
- ``flaky``: board/flaky.yaml;
- ``reuse``: merge's side (reuse verify's run, run the checks on the merge result).

The checks' schema is ``batty.core.checkspec`` (the config validates it).
"""
