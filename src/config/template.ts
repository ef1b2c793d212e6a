// The `.deliver/config` that `deliver init` writes: the project's APP filled in, everything else commented so that
// `deliver check` reports exactly what is still to be set.
import type { BuildTool } from './defaults.js';

export function configTemplate(app: string, tool: BuildTool | undefined): string {
  const toolLine = tool === 'rebar3' ? '# Erlang project (rebar3).' : tool === 'mix' ? '# Elixir project (mix).' : '# Erlang/Elixir project.';
  return `#!/usr/bin/env bash
# deliver / edeliver configuration (https://github.com/edeliver/edeliver compatible): a bash file.
# deliver reads plain assignments natively; \`if\`, \`case\` and \`$(...)\` are evaluated with bash.
# Precedence: command-line flag > environment > .deliver/.env > this file > default.
# Keep secrets in .deliver/.env (git-ignored), not here. Run \`deliver check\` after editing.
${toolLine}

APP="${app}"

# --- Build host: releases are built there from your local commits (pushed directly, no git server needed).
# BUILD_HOST="build.example.com"        # [user@]host[:port]
# BUILD_USER="builder"
# BUILD_AT="/home/builder/${app}/builds"
# TARGET_MIX_ENV="prod"                 # default prod

# --- Where releases are kept: a directory (default .deliver/releases), user@host:/path or s3://bucket/prefix.
# RELEASE_STORE=".deliver/releases"

# --- Staging (the default environment).
# STAGING_HOSTS="stage1.example.com stage2.example.com"
# STAGING_USER="deploy"
# TEST_AT="/home/deploy/staging"        # default: DELIVER_TO

# --- Production.
# PRODUCTION_HOSTS="web1.example.com web2.example.com"
# PRODUCTION_USER="deploy"
# DELIVER_TO="/home/deploy"             # the release lives in DELIVER_TO/APP

# --- Your own environments: <NAME>_HOSTS / <NAME>_USER, or <NAME>_NODES="user@host:/path ...".
# QA_HOSTS="qa1.example.com"
# QA_USER="deploy"

# --- SSH: host keys must be in known_hosts (strict) unless you choose accept-new.
# HOST_KEY_CHECKING="strict"
# SSH_TIMEOUT=10

# --- Hooks: bash functions run around the build steps (see .deliver.example for all of them).
# pre_erlang_get_and_update_deps() {
#   __sync_remote "ln -sfn /home/builder/prod.secret.exs '$BUILD_AT/config/prod.secret.exs'"
# }
`;
}
