"""The lab hall: nspawn hosts on the lab bridge, built from the lab spec (docs/lab.md)."""
