# perfgate as a Docker action. Pin the base by digest for reproducible builds, e.g.
#   FROM debian:bookworm-slim@sha256:<digest from `docker buildx imagetools inspect debian:bookworm-slim`>
FROM debian:bookworm-slim

# Debian's Python and git: the benchmark's own interpreter comes from the
# project's setup (or this one), and git makes the worktrees.  Versions are
# bookworm's (a stable release that only takes security fixes); pinning them
# would break the build whenever Debian replaces a package with its fix.
# `apt-get clean` as well as the lists: the official image deletes the downloaded .debs by
# itself (docker-clean), a base made some other way may not, and they are 130 MB.
# valgrind counts the benchmark's instructions (`instructions: true`, callgrind; see
# src/perfgate/instructions.py).  perf is not installed: Docker's default seccomp profile
# refuses perf_event_open inside a container, and hosted runners expose no hardware
# counters.  valgrind is not pinned either, for the reason above; both sides of a gate are
# counted by the same valgrind, so its version cannot show as a change.  Of valgrind only
# callgrind stays: the other tools and the static libraries for building tools are 60 MB
# of the 91 MB it adds (docs/action.md).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv git ca-certificates \
        valgrind \
    && find /usr/libexec/valgrind -maxdepth 1 -type f -name '*-linux' ! -name 'callgrind-*' -delete \
    && find /usr/libexec/valgrind /usr/lib -path '*valgrind/*' \
        \( -name '*.a' -o -name 'vgpreload_*' ! -name 'vgpreload_core-*' \) -delete \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# perfgate's dependencies pinned with their hashes (the on-runner action's list: one list
# for both), wheels only so that no build script runs; then perfgate from the source tree,
# offline, into the same venv.
COPY on-runner/requirements.txt /src/requirements.txt
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
        -r /src/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation --no-index /src \
    && rm -rf /src

# The pull request's code (setup, benchmark) runs as one of these unprivileged users, one
# per side, never as root: perfgate switches to them (see src/perfgate/contain.py).  Their
# homes hold each side's caches apart.  No set-user-ID program is left that could make a
# run root again.
RUN useradd --system --create-home --home-dir /home/perfgate-base --shell /bin/sh perfgate-base \
    && useradd --system --create-home --home-dir /home/perfgate-head --shell /bin/sh perfgate-head \
    && chmod 0700 /home/perfgate-base /home/perfgate-head \
    && find / -xdev -type f -perm /6000 -exec chmod a-s {} +

# `pip` and `python` in setup commands are the venv's (Debian's own Python refuses pip installs).
# PERFGATE_IMAGE names the one Python here: a project whose requires-python excludes it is
# stopped before anything runs (exit 2), pointed at the on-runner action.
ENV PATH=/opt/venv/bin:$PATH \
    PERFGATE_IMAGE="Debian bookworm"

COPY entrypoint /entrypoint
ENTRYPOINT ["/entrypoint"]
