import * as fs from 'fs';
import * as path from 'path';
import { ByteBuddySettings, resolveUserPath } from './settings';

export type LaunchSource = 'serverPath' | 'path' | 'python';

export interface ServerLaunch {
  command: string;
  args: string[];
  source: LaunchSource;
}

export interface LaunchProblem {
  problem: string;
  fix: string;
}

/** What the launcher may look at on the machine; tests pass a fake. */
export interface LaunchEnvironment {
  findOnPath(executable: string): string | undefined;
  isFile(file: string): boolean;
}

export const SERVER_EXECUTABLE = 'bytebuddy-ls';
const INSTALL_HINT = 'Install the server with `pip install bytebuddy-ls` (or `make install` in the bytebuddy-ls repository)';

/**
 * Picks how to start the server: `bytebuddy.serverPath`, else `bytebuddy-ls` on PATH,
 * else `python -m bytebuddy_ls` with `bytebuddy.pythonPath`.
 */
export function resolveServerLaunch(
  settings: ByteBuddySettings,
  env: LaunchEnvironment,
  workspaceFolder: string | undefined,
): ServerLaunch | LaunchProblem {
  const serveArgs = ['serve', '--stdio', '--log-level', settings.logLevel];
  if (settings.serverPath !== '') {
    const command = resolveUserPath(settings.serverPath, workspaceFolder);
    if (!env.isFile(command)) {
      return {
        problem: `\`bytebuddy.serverPath\` is set to "${command}", which does not exist.`,
        fix: 'Point `bytebuddy.serverPath` at the `bytebuddy-ls` executable (for example `.venv/bin/bytebuddy-ls`), or clear it to use `bytebuddy-ls` from PATH.',
      };
    }
    return { command, args: serveArgs, source: 'serverPath' };
  }
  const onPath = env.findOnPath(SERVER_EXECUTABLE);
  if (onPath !== undefined) {
    return { command: onPath, args: serveArgs, source: 'path' };
  }
  const python = settings.pythonPath.includes(path.sep) || settings.pythonPath.startsWith('~')
    ? resolveUserPath(settings.pythonPath, workspaceFolder)
    : settings.pythonPath;
  return { command: python, args: ['-m', 'bytebuddy_ls', ...serveArgs], source: 'python' };
}

export function isLaunchProblem(value: ServerLaunch | LaunchProblem): value is LaunchProblem {
  return 'problem' in value;
}

export function describeLaunch(launch: ServerLaunch): string {
  return [launch.command, ...launch.args].join(' ');
}

export interface FailureFacts {
  launch: ServerLaunch;
  /** The spawn error or start failure text, if the process could not be started or initialized. */
  error?: string;
  /** Last lines the server wrote to stderr. */
  stderrTail: string[];
  /** True when the server stopped after it had been running fine. */
  crashedWhileRunning: boolean;
}

/** Turns what we know about a failed server into one sentence of cause and one of fix. */
export function explainFailure(facts: FailureFacts): LaunchProblem {
  const { launch, error = '', stderrTail } = facts;
  const stderr = stderrTail.join('\n');
  const notFound = /ENOENT|not found|No such file/i.test(error);
  if (notFound && launch.source === 'python') {
    return {
      problem: `\`bytebuddy-ls\` is not on PATH and the Python interpreter "${launch.command}" was not found.`,
      fix: `${INSTALL_HINT}, or set \`bytebuddy.serverPath\` to the \`bytebuddy-ls\` executable, or \`bytebuddy.pythonPath\` to a Python that has it.`,
    };
  }
  if (notFound) {
    return {
      problem: `The language server "${launch.command}" could not be started (not found).`,
      fix: `${INSTALL_HINT}, or set \`bytebuddy.serverPath\` to the \`bytebuddy-ls\` executable.`,
    };
  }
  if (/EACCES/.test(error)) {
    return {
      problem: `The language server "${launch.command}" is not executable.`,
      fix: 'Make it executable (`chmod +x`) or point `bytebuddy.serverPath` at the right file.',
    };
  }
  if (/No module named '?bytebuddy_ls/.test(stderr)) {
    return {
      problem: `The Python interpreter "${launch.command}" does not have the \`bytebuddy_ls\` package.`,
      fix: `Run \`${launch.command} -m pip install bytebuddy-ls\`, or set \`bytebuddy.serverPath\` to the \`bytebuddy-ls\` executable.`,
    };
  }
  const lastLine = [...stderrTail].reverse().find((line) => line.trim() !== '')?.trim();
  const cause = lastLine !== undefined ? ` Last message: "${truncate(lastLine, 200)}".` : '';
  if (facts.crashedWhileRunning) {
    return {
      problem: `The ByteBuddy language server stopped unexpectedly and was not restarted.${cause}`,
      fix: 'See the log for the cause, then run "ByteBuddy: Restart server".',
    };
  }
  return {
    problem: `The ByteBuddy language server ("${describeLaunch(launch)}") exited during startup.${cause}`,
    fix: 'Check the log; `bytebuddy-ls check-config` validates the config. Then run "ByteBuddy: Restart server".',
  };
}

function truncate(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** The real machine: PATH lookup honouring the executable bit. */
export const nodeLaunchEnvironment: LaunchEnvironment = {
  findOnPath(executable: string): string | undefined {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      if (dir === '') {
        continue;
      }
      const candidate = path.join(dir, executable);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) {
          return candidate;
        }
      } catch {
        // Not in this PATH entry.
      }
    }
    return undefined;
  },
  isFile(file: string): boolean {
    try {
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  },
};
