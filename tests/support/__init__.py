"""Code the tests share that is not part of podforge: capturing what a component declares, applying it to a
real server."""
