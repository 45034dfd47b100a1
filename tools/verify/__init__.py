"""`python3 bw.py verify FILE`: verify an offline credential bundle with no network."""
