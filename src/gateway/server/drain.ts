// The drain's one waiting rule, shared by both transports: poll a condition until it holds or the deadline passes.

export async function drainUntil(done: () => boolean, deadline: Promise<void>, everyMs = 50): Promise<void> {
  let check: NodeJS.Timeout | undefined;
  const settled = new Promise<void>((resolve) => {
    check = setInterval(() => {
      if (done()) resolve();
    }, everyMs);
    check.unref();
  });
  await Promise.race([settled, deadline]);
  clearInterval(check);
}
