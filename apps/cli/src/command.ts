/** The shape of every module in ./commands. */
export interface Command {
  /** One line for `difflab --help`. */
  summary: string;
  /** Runs with the arguments after the command name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}
