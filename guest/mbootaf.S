/* mbootaf.S - mboot.S with the header's address fields (flag 16). */
#define ADDRESS_FIELDS
#include "mboot.S"
