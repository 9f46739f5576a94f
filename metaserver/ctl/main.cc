// kubehubctl: the platform team's command-line client of the metaserver's REST API.
#include "metaserver/ctl/commands.h"

int main(int argc, char** argv) { return kubehub::ctl::runCtl(argc, argv); }
