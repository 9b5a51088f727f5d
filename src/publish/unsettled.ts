/** A message to publish (again): its item's position in the input, its body, and whether it went out before. */
export interface Pending {
  position: number;
  body: Buffer;
  sent: boolean;
}

// The messages sent on one channel and not yet confirmed or refused, by the channel's own sequence
// number (the broker's delivery tag, less one). Confirms may come in any order; this keeps the bodies
// until then, so that what a lost channel never confirmed can be published again. Bounded by the
// confirm window, in messages and in bytes; settling is O(1), and the arrays are compacted as the front settles.
export class Unsettled {
  private bodies: (Buffer | undefined)[] = [];
  private positions: number[] = [];
  /** The sequence number of bodies[0]. */
  private first = 0;
  /** The index of the first unsettled message (everything before it is settled). */
  private head = 0;
  /** The sequence number the next message gets. */
  next = 0;
  /** The bytes of the bodies kept. */
  bytes = 0;

  add(position: number, body: Buffer): void {
    this.bytes += body.length;
    this.bodies.push(body);
    this.positions.push(position);
    this.next++;
  }

  /** Forget a confirmed (or refused) message: its position, or undefined if it was not unsettled here. */
  settle(seq: number): number | undefined {
    const i = seq - this.first;
    if (i < this.head || i >= this.bodies.length || this.bodies[i] === undefined) return undefined;
    const position = this.positions[i] as number;
    this.bytes -= (this.bodies[i] as Buffer).length;
    this.bodies[i] = undefined;
    while (this.head < this.bodies.length && this.bodies[this.head] === undefined) this.head++;
    if (this.head === this.bodies.length) {
      this.first += this.head;
      this.bodies = [];
      this.positions = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.bodies.length) {
      this.bodies.splice(0, this.head);
      this.positions.splice(0, this.head);
      this.first += this.head;
      this.head = 0;
    }
    return position;
  }

  /** The lowest position still unsettled. */
  lowest(): number | undefined {
    let low: number | undefined;
    for (let i = this.head; i < this.bodies.length; i++) {
      if (this.bodies[i] !== undefined && (low === undefined || (this.positions[i] as number) < low)) low = this.positions[i];
    }
    return low;
  }

  /** Everything still unsettled, in position order; this is empty afterwards. */
  take(): Pending[] {
    const out: Pending[] = [];
    for (let i = this.head; i < this.bodies.length; i++) {
      const body = this.bodies[i];
      if (body !== undefined) out.push({ position: this.positions[i] as number, body, sent: true });
    }
    this.first += this.bodies.length;
    this.bodies = [];
    this.positions = [];
    this.head = 0;
    this.bytes = 0;
    return out.sort((a, b) => a.position - b.position);
  }
}
