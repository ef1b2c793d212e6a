// Every command module registers itself here; one line per command file.
import type { Command } from 'commander';
import { registerBuild } from './build.js';
import { registerBuildUpgrade } from './build-upgrade.js';
import { registerShow } from './show.js';
import { registerShowRelup } from './show-relup.js';
import { registerDeploy } from './deploy.js';
import { registerDeployUpgrade } from './deploy-upgrade.js';
import { registerNode } from './node.js';
import { registerMigrate } from './migrate.js';
import { registerRollback } from './rollback.js';
import { registerUnlock } from './unlock.js';
import { registerShowDeploys } from './show-deploys.js';
import { registerUpdate } from './update.js';
import { registerCheck } from './check.js';
import { registerInit } from './init.js';
import { registerStoreCopy } from './store-copy.js';
import { registerEdeliver } from './edeliver.js';

export function registerCommands(program: Command): void {
  void program;
  registerBuild(program);
  registerBuildUpgrade(program);
  registerShow(program);
  registerShowRelup(program);
  registerDeploy(program);
  registerDeployUpgrade(program);
  registerNode(program);
  registerMigrate(program);
  registerRollback(program);
  registerUnlock(program);
  registerShowDeploys(program);
  registerUpdate(program);
  registerCheck(program);
  registerInit(program);
  registerStoreCopy(program);
  registerEdeliver(program);
}
