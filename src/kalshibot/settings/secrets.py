"""Secrets: only from the process environment and a ``.env`` file, never from the YAML config.

Variables (the environment wins over ``.env``; nothing is written back into ``os.environ``):

* ``KALSHI_API_KEY_ID`` and one of ``KALSHI_PRIVATE_KEY_PATH`` (a PEM file) or ``KALSHI_PRIVATE_KEY`` (the PEM
  inline; ``\\n`` escapes allowed so it fits one line) for ``auth.mode: api_key`` (API.md §2.1);
* ``KALSHI_EMAIL`` and ``KALSHI_PASSWORD`` for ``auth.mode: legacy`` (API.md §2.3: the simulator or explicit URLs).

They are required only when the bot talks to a real or external exchange (demo, prod, custom, ``sim_url``); the
embedded simulator makes its own throwaway key. A *missing* variable is a configuration problem (ConfigError, exit
2); a variable that is present but unusable (a key file that does not exist or cannot be read) is a credential
problem (CredentialError, exit 3). Key-file permissions and PEM parsing belong to ``kalshibot.net.auth``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, SecretStr

from kalshibot.errors import ConfigError, CredentialError

ENV_API_KEY_ID = "KALSHI_API_KEY_ID"
ENV_PRIVATE_KEY_PATH = "KALSHI_PRIVATE_KEY_PATH"
ENV_PRIVATE_KEY = "KALSHI_PRIVATE_KEY"
ENV_EMAIL = "KALSHI_EMAIL"
ENV_PASSWORD = "KALSHI_PASSWORD"
SECRET_VARIABLES = (ENV_API_KEY_ID, ENV_PRIVATE_KEY_PATH, ENV_PRIVATE_KEY, ENV_EMAIL, ENV_PASSWORD)


class Secrets(BaseModel):
    """Resolved secrets. ``repr``/``str`` never show values (SecretStr); the key path is not secret but is kept
    out of the printed settings all the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key_id: SecretStr | None = None
    private_key_path: Path | None = None  # absolute once resolved
    private_key_pem: SecretStr | None = None
    email: SecretStr | None = None
    password: SecretStr | None = None

    def masked(self) -> dict[str, str]:
        """Variable name -> ``"**** (set)"`` or ``"(not set)"``, for printing."""
        values = {
            ENV_API_KEY_ID: self.api_key_id,
            ENV_PRIVATE_KEY_PATH: self.private_key_path,
            ENV_PRIVATE_KEY: self.private_key_pem,
            ENV_EMAIL: self.email,
            ENV_PASSWORD: self.password,
        }
        return {k: "**** (set)" if v is not None else "(not set)" for k, v in values.items()}


def read_environment(env: Mapping[str, str] | None, env_file: str | Path | None) -> dict[str, str]:
    """The KALSHI_* variables visible to the bot: ``env`` (default ``os.environ``) over ``env_file``'s values.

    A variable set to the empty string counts as not set. A missing ``env_file`` is fine (there may be none).
    """
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        for k, v in dotenv_values(env_file).items():
            if k in SECRET_VARIABLES and v:
                merged[k] = v
    source = os.environ if env is None else env
    for k in SECRET_VARIABLES:
        v = source.get(k)
        if v:  # already-set variables win over .env, as python-dotenv's override=False does
            merged[k] = v
    return merged


def _required(values: Mapping[str, str], name: str, why: str) -> str:
    v = values.get(name)
    if not v:
        raise ConfigError(f"not set ({why}); put it in .env or the environment", field=name)
    return v


def resolve_secrets(
    values: Mapping[str, str],
    *,
    required: bool,
    auth_mode: Literal["api_key", "legacy"],
    why: str,
    base_dir: Path | None = None,
) -> Secrets:
    """Build :class:`Secrets` from ``values``; when ``required``, check what ``auth_mode`` needs is there.

    ``base_dir`` resolves a relative key path (default: the current directory, as a shell would).
    """
    key_path_raw = values.get(ENV_PRIVATE_KEY_PATH)
    key_pem_raw = values.get(ENV_PRIVATE_KEY)
    key_path: Path | None = None
    if key_path_raw:
        key_path = Path(key_path_raw).expanduser()
        if not key_path.is_absolute():
            key_path = (base_dir or Path.cwd()) / key_path
    pem: SecretStr | None = None
    if key_pem_raw:
        # one-line PEMs in .env files often carry literal \n escapes
        pem = SecretStr(key_pem_raw if "\n" in key_pem_raw else key_pem_raw.replace("\\n", "\n"))

    if required:
        if auth_mode == "api_key":
            _required(values, ENV_API_KEY_ID, why)
            if key_path is None and pem is None:
                raise ConfigError(
                    f"not set, nor {ENV_PRIVATE_KEY} with the PEM inline ({why}); put it in .env or the environment",
                    field=ENV_PRIVATE_KEY_PATH,
                )
            if key_path is not None and pem is not None:
                raise ConfigError(
                    f"both {ENV_PRIVATE_KEY_PATH} and {ENV_PRIVATE_KEY} are set: keep only one", field=ENV_PRIVATE_KEY
                )
            if key_path is not None:
                # present but unusable is a credential problem (exit 3), not a configuration one
                if not key_path.exists():
                    raise CredentialError(f"{ENV_PRIVATE_KEY_PATH}: no such file: {key_path}")
                if not key_path.is_file():
                    raise CredentialError(f"{ENV_PRIVATE_KEY_PATH}: not a regular file: {key_path}")
                if not os.access(key_path, os.R_OK):
                    raise CredentialError(f"{ENV_PRIVATE_KEY_PATH}: cannot read {key_path}")
        else:
            _required(values, ENV_EMAIL, why)
            _required(values, ENV_PASSWORD, why)

    def secret(name: str) -> SecretStr | None:
        v = values.get(name)
        return SecretStr(v) if v else None

    return Secrets(
        api_key_id=secret(ENV_API_KEY_ID),
        private_key_path=key_path,
        private_key_pem=pem,
        email=secret(ENV_EMAIL),
        password=secret(ENV_PASSWORD),
    )
