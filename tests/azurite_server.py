"""A throwaway Azurite Blob endpoint for tests: its own temp folder, a free port, stopped on exit.

    with AzuriteServer(tmp_dir) as azurite:
        settings = settings.replace(**azurite.settings_overrides())

Azurite is installed (idempotently, repo-local) by infrastructure/setup/azurite.sh; when the binary is missing
the helper runs that script first, so `make test` works on a new machine. Azurite has no ADLS (dfs) endpoint:
the tests use its Blob endpoint, which is also what publish uses against the real account.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETUP_SCRIPT = REPO / "infrastructure" / "setup" / "azurite.sh"
DEFAULT_BIN = REPO / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's one well-known development account; the key is published in Azurite's documentation.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT_S = 60
_LISTENING = re.compile(r"listens on (http://[\d.]+:(\d+))")


def azurite_binary() -> Path:
    override = os.environ.get("AZURITE_BIN")
    if override:
        return Path(override)
    if not DEFAULT_BIN.exists():
        subprocess.run(["bash", str(SETUP_SCRIPT)], check=True, capture_output=True, text=True, timeout=600)
    return DEFAULT_BIN


class AzuriteServer:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.port = 0
        self._output: list[str] = []

    @property
    def blob_endpoint(self) -> str:
        return f"{self.url}/{ACCOUNT}"

    def settings_overrides(self, container: str = "lake") -> dict[str, object]:
        from scripts_spark.config import Secret

        return {"azure_storage_account": ACCOUNT, "azure_storage_key": Secret(ACCOUNT_KEY),
                "azure_blob_endpoint": self.blob_endpoint, "publish_container": container}

    def env(self, container: str = "lake") -> dict[str, str]:
        """The same settings as environment variables, for `make publish` / the CLI in a subprocess."""
        return {"AZURE_STORAGE_ACCOUNT": ACCOUNT, "AZURE_STORAGE_KEY": ACCOUNT_KEY,
                "AZURE_BLOB_ENDPOINT": self.blob_endpoint, "PUBLISH_CONTAINER": container}

    def start(self) -> "AzuriteServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Port 0: the OS picks a free port and Azurite prints it, so parallel test runs never collide.
        cmd = [str(azurite_binary()), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", str(self.workdir),
               "--silent", "--disableTelemetry", "--loose",
               # The Python SDK may speak a newer storage API version than this Azurite release knows.
               "--skipApiVersionCheck"]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        cwd=self.workdir)
        found = threading.Event()

        def read_output() -> None:
            assert self.process and self.process.stdout
            for line in self.process.stdout:
                self._output.append(line.rstrip())
                match = _LISTENING.search(line)
                if match and not found.is_set():
                    self.url, self.port = match.group(1), int(match.group(2))
                    found.set()

        threading.Thread(target=read_output, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not found.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("Azurite did not start:\n" + "\n".join(self._output[-20:]))
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> "AzuriteServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
