/*
 * The adapter registry: every compiled-in carrier, found by name. Each
 * adapter is guarded by its WISMO_WITH_<NAME> define, set by
 * carriers/CMakeLists.txt for the carriers in WISMO_CARRIERS.
 */
#include "wismo/carrier.h"

#include <string.h>

extern const struct carrier carrier_dhl, carrier_postnl, carrier_dpd,
    carrier_ups, carrier_fedex, carrier_usps, carrier_canadapost, carrier_gls,
    carrier_bpost;

static const struct carrier *const carriers[] = {
#ifdef WISMO_WITH_DHL
    &carrier_dhl,
#endif
#ifdef WISMO_WITH_POSTNL
    &carrier_postnl,
#endif
#ifdef WISMO_WITH_DPD
    &carrier_dpd,
#endif
#ifdef WISMO_WITH_UPS
    &carrier_ups,
#endif
#ifdef WISMO_WITH_FEDEX
    &carrier_fedex,
#endif
#ifdef WISMO_WITH_USPS
    &carrier_usps,
#endif
#ifdef WISMO_WITH_CANADAPOST
    &carrier_canadapost,
#endif
#ifdef WISMO_WITH_GLS
    &carrier_gls,
#endif
#ifdef WISMO_WITH_BPOST
    &carrier_bpost,
#endif
    NULL};

const struct carrier *const *carrier_all(void)
{
    return carriers;
}

const struct carrier *carrier_find(const char *name)
{
    for (size_t i = 0; carriers[i] != NULL; i++)
        if (strcmp(carriers[i]->name, name) == 0)
            return carriers[i];
    return NULL;
}
