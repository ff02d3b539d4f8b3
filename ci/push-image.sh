#!/usr/bin/env bash
# Pushes the image that ci.yml built and scanned (its `docker save` tarball,
# image inventory:<commit>) to an ECR repository, tagged by the commit, and
# prints it pinned by digest (what scripts/deploy.sh wants):
#
#   ci/push-image.sh IMAGE_TAR REPOSITORY_URL COMMIT_SHA
#     -> <account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<digest>
#
# REPOSITORY_URL is Terraform's ecr_repository_url output. Needs AWS
# credentials (the workflows: OIDC) and a docker login to the registry. ECR
# tags are immutable (deploy/terraform/modules/ecr): when the commit's tag is
# already there (a re-run, a redeploy), nothing is pushed and the digest it
# has is printed.
set -euo pipefail

usage() { echo "usage: ci/push-image.sh IMAGE_TAR REPOSITORY_URL COMMIT_SHA" >&2; exit 2; }
(($# == 3)) || usage
tar=$1 url=$2 sha=$3
[[ $sha =~ ^[0-9a-f]{40}$ ]] || { echo "error: '$sha' is not a full commit SHA" >&2; exit 2; }
[[ $url =~ ^[a-z0-9.-]+/[a-z0-9._/-]+$ ]] || { echo "error: '$url' is not a repository URL" >&2; exit 2; }
repository=${url#*/}

digest_of_tag() {
  aws ecr describe-images --repository-name "$repository" --image-ids "imageTag=$sha" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null
}

if digest=$(digest_of_tag) && [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "$url:$sha is already there: not pushed again" >&2
else
  docker load --input "$tar" >&2
  docker tag "inventory:$sha" "$url:$sha"
  docker push "$url:$sha" >&2
  digest=$(digest_of_tag)
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "error: no digest for $url:$sha after the push" >&2; exit 1; }
fi
echo "$url@$digest"
