/* The main() of every device binary: the device file it is linked with
 * defines serve_program. Kept apart so that a test can link a device file
 * and reach its real start and ops without a main() in the way. */
#include "serve.h"

int main(int argc, char **argv)
{
	return serve_main(argc, argv, &serve_program);
}
