import { readdirSync, readFileSync } from 'node:fs';

// A command is a session leader (start.ts), and wq signals its process group. A descendant can leave
// that group with setpgid and stay in the session: GNU timeout does, and so does a shell with job
// control. When wq stops a command, those must be stopped too, or they outlive their message and run
// beside its next attempt. The kernel keeps a session's id from being reused while any process is in it,
// so whatever /proc lists in the command's session is the command's. Linux only; one read of /proc per
// stop (about 1.5 ms per hundred processes on the machine that measured it), never per message.

/** The processes of session `sid` outside process group `sid`. */
export function sessionStragglers(sid: number): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses, so from the last ')'.
    const [, , pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(session) === sid && Number(pgrp) !== sid) out.push(Number(name));
  }
  return out;
}
