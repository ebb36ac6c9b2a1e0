/*
 * version: the one version string of embedwatch, printed by both
 * programs (--version), sent in the default User-Agent and kept equal by
 * tests/integration/t_version.py to debian/changelog and the Python
 * client's __version__. Change it here and there together.
 */
#ifndef EMBEDWATCH_VERSION_H
#define EMBEDWATCH_VERSION_H

#define EMBEDWATCH_VERSION	"0.1.0"

#endif
