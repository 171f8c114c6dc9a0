"""docker-compose.yml read as compose reads it, and its services' commands mapped to run natively.

No Docker engine runs here, so tests/test_compose.py runs each service's own command line on this
machine. `Native` maps what only exists inside the compose network onto loopback: service names
become 127.0.0.1, the services' ports become free ports, 0.0.0.0 becomes 127.0.0.1, and container
paths become the files they are mounted from. Nothing else in a command is changed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from scripts.launch import free_port, upstream_lines
from tests.servers import ROOT

COMPOSE = ROOT / "docker-compose.yml"
HOSTS = ("redis", "target", "proxy", "master")
# Each service's port inside the compose network, as docker-compose.yml writes it.
PORTS = {"redis": "6379", "target": "8000", "proxy": "8080", "master": "5557", "web": "8089", "metrics": "9646"}

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation: ${VAR}, ${VAR:-default}, and $$ for a literal $."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def load(env: dict[str, str] | None = None) -> dict:
    """docker-compose.yml with YAML anchors merged and variables interpolated (unset unless given)."""
    import yaml

    return interpolate(yaml.safe_load(COMPOSE.read_text()), env or {})


def mounts(service: dict) -> list[tuple[Path, str, bool]]:
    """(host path, container path, read-only) for each bind mount of a service."""
    result = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        result.append(((ROOT / source).resolve(), target, mode == ["ro"]))
    return result


class Native:
    """Maps a service's command, environment and health check from the compose network onto loopback."""

    def __init__(self, workdir: Path, targets: int) -> None:
        self.workdir = workdir
        self.ports = {name: free_port() for name in PORTS}
        self.target_ports = [free_port() for _ in range(targets)]

    def text(self, value: str, service: dict, replica: int = 0) -> str:
        value = value.replace(f"server target:{PORTS['target']};", upstream_lines(self.target_ports))
        for host in HOSTS:
            value = re.sub(rf"(?<![\w.-]){host}(?=:\d)", "127.0.0.1", value)
            value = "127.0.0.1" if value == host else value
        value = value.replace("0.0.0.0", "127.0.0.1")
        for name, port in PORTS.items():
            native = self.target_ports[replica] if name == "target" else self.ports[name]
            value = re.sub(rf"(?<!\d){port}(?!\d)", str(native), value)
        paths = dict(self.paths(service))
        # One pass, longest path first, so a mapped path is never mapped again.
        pattern = "|".join(re.escape(path) for path in sorted(paths, key=len, reverse=True))
        return re.sub(pattern, lambda m: str(paths[m.group(0)]), value)

    def paths(self, service: dict) -> list[tuple[str, Path]]:
        pairs = [(target, source) for source, target, read_only in mounts(service) if read_only]
        # Writable mounts are the run's outputs: natively they go to the test's folder, not the repo.
        outputs = [target for _, target, read_only in mounts(service) if not read_only]
        pairs += [(target, self.workdir / Path(target).name) for target in outputs]
        pairs += [("/app", ROOT), ("/tmp/", self.workdir / "tmp-")]
        return pairs

    def command(self, service: dict, replica: int = 0) -> list[str]:
        return [self.text(str(part), service, replica) for part in service["command"]]

    def env(self, service: dict, replica: int = 0) -> dict[str, str]:
        extra = {k: self.text(str(v), service, replica) for k, v in (service.get("environment") or {}).items()}
        return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}

    def cwd(self, service: dict) -> Path:
        return Path(self.text(service.get("working_dir", "/app"), service))

    def healthcheck(self, service: dict, replica: int = 0) -> list[str]:
        test = service["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            return ["sh", "-c", self.text(test[1], service, replica)]
        assert test[0] == "CMD", test
        return [self.text(str(part), service, replica) for part in test[1:]]
