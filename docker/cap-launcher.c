/*
 * daly-bms-bridge launcher for the container image: `daly-bms-bridge` on PATH.
 *
 * The noble transport opens raw HCI sockets, which need CAP_NET_RAW (and CAP_NET_ADMIN for the
 * HCI user channel). The image runs as the unprivileged user `node`, and Docker's `cap_add` only
 * reaches a non-root process through file capabilities or the ambient set. Giving node itself file
 * capabilities (setcap) copies the ~100 MB node binary into a new image layer; this launcher is a
 * few kilobytes instead:
 *   - it carries the file capabilities cap_net_raw,cap_net_admin in its *permitted* set only (no
 *     effective bit), so the kernel grants whatever of the two the container's bounding set allows
 *     and never refuses to exec it when NET_ADMIN was not added;
 *   - it copies those it got into the inheritable and ambient sets, then execs the bridge's
 *     fixed entry point (never an arbitrary program), so node runs with them and nothing more.
 * As root (the HA add-on) it changes nothing that root did not already have.
 * No libcap: the two syscalls and prctl are enough. Built in the image's build stage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef BRIDGE_ENTRY
#define BRIDGE_ENTRY "/app/dist/cli.js"
#endif

static const int wanted[] = {CAP_NET_RAW, CAP_NET_ADMIN};

int main(int argc, char **argv) {
  struct __user_cap_header_struct hdr;
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  (void)argc;
  memset(&hdr, 0, sizeof hdr);
  memset(data, 0, sizeof data);
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  if (syscall(SYS_capget, &hdr, data) == 0) {
    unsigned i;
    for (i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
      int c = wanted[i];
      if (data[c / 32].permitted & (1u << (c % 32))) data[c / 32].inheritable |= 1u << (c % 32);
    }
    if (syscall(SYS_capset, &hdr, data) == 0) {
      for (i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        int c = wanted[i];
        if (data[c / 32].permitted & (1u << (c % 32))) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
      }
    }
  }
  /* a failure above only leaves the capabilities out: the BlueZ and serial transports need none,
     and noble then reports a clear "permission denied" for the adapter */
  argv[0] = (char *)BRIDGE_ENTRY;
  execv(BRIDGE_ENTRY, argv);
  fprintf(stderr, "daly-bms-bridge: cannot exec %s: %s\n", BRIDGE_ENTRY, strerror(errno));
  return 127;
}
