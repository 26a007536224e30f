"""Small programs standing in for real engines in the supervisor's tests (run with ``sys.executable``)."""
