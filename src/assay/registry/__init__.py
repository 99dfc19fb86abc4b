"""The npm registry protocol: what the npm CLI sends and expects (specs/npm-registry.md)."""
