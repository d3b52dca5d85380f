"""moto's server, with Secrets Manager's UpdateSecretVersionStage as AWS documents it.

moto 5.2.5 (the newest release) differs from AWS in two ways that matter to a compare-and-swap on
AWSCURRENT (docs/architecture.md, "Refresh-token rotation"):

- when AWSCURRENT moves, moto relabels the versions but GetSecretValue keeps answering the old
  current version (its `default_version_id` is never updated);
- RemoveFromVersionId is checked against the labels moto keeps per version, which that first
  difference leaves stale, so a move from a version that is no longer current can succeed.

AWS: "If the label is attached and you either do not specify this parameter, or the version ID does
not match, then the operation fails" (UpdateSecretVersionStage, RemoveFromVersionId). This launcher
makes moto do that, and nothing else; tests/it/emulator_stores.rs checks the behaviour.

Usage: python moto_server.py [--exit-with-stdin] -H 127.0.0.1 -p PORT (the arguments of
moto_server). With --exit-with-stdin the server exits when its standard input closes: the test
binary that started it keeps the pipe open and the kernel closes it when that process ends,
however it ends, so no emulator outlives `cargo test`.
"""

import os
import sys
import threading

from moto.secretsmanager import models
from moto.secretsmanager.exceptions import InvalidParameterException, SecretNotFoundException
from moto.server import main

_original = models.SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(
    self, secret_id, version_stage, remove_from_version_id, move_to_version_id
):
    if version_stage != "AWSCURRENT":
        return _original(
            self, secret_id, version_stage, remove_from_version_id, move_to_version_id
        )
    if secret_id not in self.secrets:
        raise SecretNotFoundException()
    secret = self.secrets[secret_id]
    current = secret.default_version_id
    if not remove_from_version_id:
        raise InvalidParameterException(
            "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is "
            f"currently attached to version {current}, so you must explicitly reference that "
            "version in RemoveFromVersionId."
        )
    if remove_from_version_id != current:
        raise InvalidParameterException(
            f"Version {remove_from_version_id} does not hold the staging label AWSCURRENT "
            f"(version {current} does)."
        )
    if move_to_version_id not in secret.versions:
        raise InvalidParameterException(f"Not a valid version: {move_to_version_id}")
    if move_to_version_id == current:
        return secret.arn, secret.name
    for version in secret.versions.values():
        stages = version["version_stages"]
        for label in ("AWSPREVIOUS", "AWSCURRENT"):
            if label in stages:
                stages.remove(label)
    secret.versions[current]["version_stages"].append("AWSPREVIOUS")
    secret.versions[move_to_version_id]["version_stages"].append("AWSCURRENT")
    secret.default_version_id = move_to_version_id
    return secret.arn, secret.name


models.SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


def _exit_when_stdin_closes():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    if "--exit-with-stdin" in sys.argv:
        sys.argv.remove("--exit-with-stdin")
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    main()
