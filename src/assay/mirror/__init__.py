"""The upstream mirror: names not published here come from uplinks, verified before served
(docs/mirror.md)."""
