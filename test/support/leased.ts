/** The names of the mailboxes a takeDue() call leased (most tests only look at which were leased). */
export async function leasedNames(store: { takeDue(limit: number, leaseMs: number): Promise<ReadonlyArray<{ mailbox: string }>> }, limit: number, leaseMs: number): Promise<string[]> {
  return (await store.takeDue(limit, leaseMs)).map((d) => d.mailbox);
}
