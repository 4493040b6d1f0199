# Guest programs: built by the top-level Makefile, outputs in build/guest.
GUEST_BINS :=
