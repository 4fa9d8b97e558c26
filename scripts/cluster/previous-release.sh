#!/usr/bin/env bash
# The previous release, built from its own commit, for the upgrade that make test-cluster runs
# (install it, load it, helm upgrade to the working tree's release).
#   PREVIOUS_RELEASE and PREVIOUS_RELEASE_COMMIT (versions.env) name it. The commit is what is
#   built: a clone without tags still has it. When the tag v$PREVIOUS_RELEASE exists it must
#   point at that commit.
#   Its tree is checked out with `git worktree add` into the run's folder; its own Makefile
#   installs its npm packages and its own scripts/release/release.sh builds it (on the
#   stand-ins, as test.sh builds the working tree), so it is the release as it was, not the
#   working tree's scripts applied to old sources.
#   A release is reproducible per commit: the result is kept in the cache
#   ($CACHE_DIR/releases/<commit>/) and reused while that folder is complete.
# Prints the folder that holds <version>/release.env on stdout.
# Env: REGISTRY (the registry the chart names; publish.sh repackages it for the one it pushes to).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -n "${PREVIOUS_RELEASE:-}" && -n "${PREVIOUS_RELEASE_COMMIT:-}" ]] ||
  die "versions.env names no previous release (PREVIOUS_RELEASE, PREVIOUS_RELEASE_COMMIT)"
cd "$REPO_ROOT"
commit="$(git rev-parse -q --verify "$PREVIOUS_RELEASE_COMMIT^{commit}")" ||
  die "the previous release's commit $PREVIOUS_RELEASE_COMMIT is not in this clone (a shallow clone? git fetch --unshallow)"
if tagged="$(git rev-parse -q --verify "refs/tags/v$PREVIOUS_RELEASE^{commit}")"; then
  [[ "$tagged" == "$commit" ]] ||
    die "tag v$PREVIOUS_RELEASE is $tagged, but versions.env says $PREVIOUS_RELEASE was $commit"
fi

releases="$CACHE_DIR/releases/$commit"
if [[ -f "$releases/$PREVIOUS_RELEASE/release.env" && -f "$releases/.complete" ]]; then
  log "previous release $PREVIOUS_RELEASE ($commit) from the cache"
  echo "$releases"
  exit 0
fi

started=$SECONDS
tree="$CLUSTER_DIR/previous-release"
git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
git worktree prune
mkdir -p "$CLUSTER_DIR"
git worktree add --quiet --detach "$tree" "$commit"
cleanup() { git -C "$REPO_ROOT" worktree remove --force "$tree" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The same pinned Node and the built helm, when the versions agree: nothing to download again.
if [[ "$(tr -d '[:space:]' <"$tree/.node-version")" == "$NODE_VERSION" && -d "$REPO_ROOT/.cache/node" ]]; then
  mkdir -p "$tree/.cache"
  ln -s "$REPO_ROOT/.cache/node" "$tree/.cache/node"
fi
[[ -x "$REPO_ROOT/.cache/bin/helm" ]] && mkdir -p "$tree/.cache" && ln -s "$REPO_ROOT/.cache/bin" "$tree/.cache/bin"

log "previous release $PREVIOUS_RELEASE: building $commit"
rm -rf "$releases"
mkdir -p "$releases"
(cd "$tree" && make --no-print-directory node_modules/.package-lock.json >&2)
(
  cd "$tree"
  export PATH="$tree/.cache/node/$NODE_VERSION/bin:$PATH"
  RELEASE_DIR="$releases" RELEASE_BASE=stand-in REGISTRY="${REGISTRY:?}" scripts/release/release.sh
) >&2
[[ -f "$releases/$PREVIOUS_RELEASE/release.env" ]] ||
  die "the build of $commit wrote no release $PREVIOUS_RELEASE (its package.json's version differs?)"
touch "$releases/.complete"
log "previous release $PREVIOUS_RELEASE built in $((SECONDS - started)) s"
echo "$releases"
