// Prints {"<project>:<target>": "<hash>"} for every cacheable task of the workspace in the current directory,
// computed by Nx itself (project graph → task graph → the in-process task hasher Nx runs tasks with).
// A separate process per workspace: Nx fixes its workspace root when it is first loaded.
const { createProjectGraphAsync } = require('nx/src/devkit-exports');
const { readNxJson } = require('nx/src/config/nx-json');
const { createTaskGraph } = require('nx/src/tasks-runner/create-task-graph');
const { createTaskHasher } = require('nx/src/hasher/create-task-hasher');

async function main() {
  const graph = await createProjectGraphAsync({ exitOnError: true });
  const nxJson = readNxJson();
  const wanted = process.argv.slice(2); // project name prefixes; none = every project
  const projects = Object.keys(graph.nodes).filter((p) => wanted.length === 0 || wanted.some((w) => p === w || p.startsWith(`${w}-`)));
  const targets = [...new Set(projects.flatMap((p) => Object.entries(graph.nodes[p].data.targets ?? {}).filter(([, t]) => t.cache).map(([t]) => t)))];
  const taskGraph = createTaskGraph(graph, {}, projects, targets, undefined, {});
  const tasks = Object.values(taskGraph.tasks).filter((t) => projects.includes(t.target.project));
  const hasher = createTaskHasher(graph, nxJson, {});
  const hashes = await hasher.hashTasks(tasks, taskGraph, process.env);
  const out = {};
  tasks.forEach((t, i) => (out[t.id] = hashes[i].value));
  process.stdout.write(JSON.stringify(out));
}
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  },
);
