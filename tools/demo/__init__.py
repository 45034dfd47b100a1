"""`python3 bw.py demo`: the whole system's story played against the running services, narrated
step by step (see `story.py`); the end-to-end tests play the same story."""
